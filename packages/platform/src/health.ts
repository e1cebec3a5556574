import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import {
  type Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
} from "@classconnect/gen/grpc/health/v1/health_pb.js";
import type { ServiceImpl } from "@connectrpc/connect";

export { Status as ServingStatus };

/** Reports readiness: the server is draining, or a dependency is down. */
export type ReadinessCheck = (service: string) => Promise<Status>;

/**
 * The health "service" that Kubernetes' liveness probes ask for: SERVING whenever the
 * process answers at all. It never depends on a database or another service, so a
 * dependency's outage takes pods out of rotation (readiness) without restarting them.
 */
export const LIVENESS_SERVICE = "liveness";

/**
 * grpc.health.v1.Health backed by a readiness check (for example a live
 * `select 1` against the service's database); `liveness` always answers SERVING.
 */
export function createHealthService(check: ReadinessCheck): ServiceImpl<typeof Health> {
  const statusOf = (service: string) =>
    service === LIVENESS_SERVICE ? Promise.resolve(Status.SERVING) : check(service);
  return {
    async check(req) {
      return create(HealthCheckResponseSchema, { status: await statusOf(req.service) });
    },
    async *watch(req, ctx) {
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const status = await statusOf(req.service);
        if (status !== last) {
          last = status;
          yield create(HealthCheckResponseSchema, { status });
        }
        await sleep(1000, undefined, { signal: ctx.signal }).catch(() => {});
      }
    },
  };
}
