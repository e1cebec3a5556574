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
 * grpc.health.v1.Health backed by a readiness check (for example a live
 * `select 1` against the service's database).
 */
export function createHealthService(check: ReadinessCheck): ServiceImpl<typeof Health> {
  return {
    async check(req) {
      return create(HealthCheckResponseSchema, { status: await check(req.service) });
    },
    async *watch(req, ctx) {
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const status = await check(req.service);
        if (status !== last) {
          last = status;
          yield create(HealthCheckResponseSchema, { status });
        }
        await sleep(1000, undefined, { signal: ctx.signal }).catch(() => {});
      }
    },
  };
}
