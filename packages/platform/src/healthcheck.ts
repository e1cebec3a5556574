/**
 * Container health check: asks the local server's grpc.health.v1 service and
 * exits 0 only when it answers SERVING. Usage: healthcheck.ts <port>
 */

import { Health, HealthCheckResponse_ServingStatus } from "@classconnect/gen/grpc/health/v1/health_pb.js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

const port = Number(process.argv[2] ?? process.env["PORT"]);
// A gateway serving TLS is asked over TLS; its certificate names its public host, not
// 127.0.0.1, and this asks the process itself, so the name is not checked.
const tls = Boolean(process.env["GATEWAY_TLS_CERT_FILE"]);
try {
  const client = createClient(
    Health,
    createGrpcTransport({
      baseUrl: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
      ...(tls ? { nodeOptions: { rejectUnauthorized: false } } : {}),
    }),
  );
  const res = await client.check({}, { timeoutMs: 3000 });
  process.exit(res.status === HealthCheckResponse_ServingStatus.SERVING ? 0 : 1);
} catch {
  process.exit(1);
}
