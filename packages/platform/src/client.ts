import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { SERVICE_TOKEN_HEADER } from "./auth-interceptor.js";
import { createLeanGrpcTransport } from "./grpc-client.js";
import { createClientTelemetryInterceptor } from "./telemetry.js";

/** A gRPC (HTTP/2) transport to another ClassConnect service. */
export function createServiceTransport(
  baseUrl: string,
  options: { serviceToken?: string; interceptors?: Interceptor[] } = {},
): Transport {
  const interceptors: Interceptor[] = [
    createClientTelemetryInterceptor("client"),
    ...(options.interceptors ?? []),
  ];
  if (options.serviceToken) {
    const token = options.serviceToken;
    interceptors.push((next) => (req) => {
      req.header.set(SERVICE_TOKEN_HEADER, token);
      return next(req);
    });
  }
  return createLeanGrpcTransport({ baseUrl, interceptors, defaultTimeoutMs: 10_000 });
}

/** A client for `service` calling as a ClassConnect service (internal access). */
export function createServiceClient<T extends DescService>(
  service: T,
  baseUrl: string,
  serviceToken: string,
): Client<T> {
  return createClient(service, createServiceTransport(baseUrl, { serviceToken }));
}
