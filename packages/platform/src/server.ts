/**
 * Server bootstrap shared by every service: HTTP/2 cleartext (gRPC, gRPC-Web and
 * Connect), the standard interceptors, grpc.health.v1, and graceful shutdown
 * that drains in-flight calls before closing the service's resources.
 */
import * as http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { Health } from "@classconnect/gen/grpc/health/v1/health_pb.js";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createErrorInterceptor } from "./error-interceptor.js";
import { createUnaryGrpcHandler, recordUnaryRoutes } from "./grpc-unary.js";
import { requestJsonOptions } from "./grpc-wire.js";
import { createHealthService, ServingStatus } from "./health.js";
import { type Http2Limits, limitHttp2Session } from "./http2-limits.js";
import type { Logger } from "./logger.js";
import { createServerTelemetryInterceptor } from "./telemetry.js";
import { createValidationInterceptor } from "./validation-interceptor.js";

export interface ServerOptions {
  /** Service name for logs and error details, e.g. "users". */
  name: string;
  host?: string;
  /** 0 picks a free port. */
  port: number;
  logger: Logger;
  /** Registers the service implementations. */
  routes: (router: ConnectRouter) => void;
  /** Interceptors between error mapping and validation (authentication). */
  interceptors?: Interceptor[];
  /** Whether dependencies are up; reported by grpc.health.v1. */
  ready: () => Promise<boolean>;
  /** Called as draining starts, before in-flight calls finish (answer held long polls). */
  onDrain?: () => void;
  /** Closes what the service opened (pools, workers), after draining. */
  onClose?: () => Promise<void>;
  /** Largest accepted request message. */
  readMaxBytes?: number;
  /** How long shutdown waits for in-flight calls. */
  drainTimeoutMs?: number;
  /**
   * A caller's connection is closed gracefully (GOAWAY; its open calls finish) once it
   * is about this old, ±10 % so that connections opened together do not all close
   * together; 0 or unset: never. Callers then connect again, through the Service's
   * address, to any replica: without it, each caller's single HTTP/2 connection stays
   * on the replica it first reached, and replicas added later get no traffic from it.
   */
  maxConnectionAgeMs?: number;
  /** Limits on slow and idle callers (see http2-limits.ts); unset: none. */
  limits?: Http2Limits;
}

export interface RunningServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { logger } = options;
  let draining = false;
  const health = createHealthService(async () => {
    if (draining) return ServingStatus.NOT_SERVING;
    return (await options.ready()) ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  });
  // Outermost first: telemetry sees the final code; errors are mapped for
  // everything inside; callers are authenticated before their input is examined.
  const interceptors = [
    createServerTelemetryInterceptor(options.name),
    createErrorInterceptor(options.name, logger),
    ...(options.interceptors ?? []),
    createValidationInterceptor(),
  ];
  const readMaxBytes = options.readMaxBytes ?? 12 * 1024 * 1024;
  const unary = recordUnaryRoutes((router) => {
    router.service(Health, health);
    options.routes(router);
  });
  const connectHandler = connectNodeAdapter({
    routes: unary.register,
    interceptors,
    readMaxBytes,
    jsonOptions: requestJsonOptions,
    // Services are reached inside the cluster (the gateway and each other): gzip
    // there costs CPU and saves nothing (5 % of the courses service's time under
    // bench:read). The gateway still compresses for clients on the internet.
    acceptCompression: [],
  });
  // Unary gRPC, the calls between ClassConnect processes, takes a lean path with
  // the same interceptors and handlers; everything else is connect-node's.
  const lean = createUnaryGrpcHandler({ routes: unary.routes, interceptors, readMaxBytes });
  const server = http2.createServer(connectHandler);
  // node:http2 serves `connectHandler` through its compat layer, itself a 'stream' listener:
  // lean calls take the stream first, everything else goes on to the compat layer.
  const [compat] = server.listeners("stream") as ((...args: unknown[]) => void)[];
  if (!compat) throw new Error("node:http2 installed no compat 'stream' listener");
  server.removeListener("stream", compat);
  server.on("stream", (stream, headers, ...rest) => {
    if (!lean(stream, headers)) compat.call(server, stream, headers, ...rest);
  });
  // Answers go out at once: without this, Nagle holds the trailers frame until the peer acknowledges the data.
  server.on("connection", (socket: Socket) => socket.setNoDelay(true));
  const sessions = new Set<http2.Http2Session>();
  const maxAge = options.maxConnectionAgeMs ?? 0;
  server.on("session", (session) => {
    sessions.add(session);
    if (options.limits) limitHttp2Session(session, options.limits);
    const aged =
      maxAge > 0
        ? setTimeout(() => session.close(), maxAge * (0.9 + 0.2 * Math.random())).unref()
        : undefined;
    session.on("close", () => {
      clearTimeout(aged);
      sessions.delete(session);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host && options.host !== "0.0.0.0" ? options.host : "127.0.0.1";
  logger.info({ port }, `${options.name} listening`);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      draining = true;
      options.onDrain?.();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // GOAWAY: sessions finish their open streams and accept no new ones.
      for (const session of sessions) session.close();
      const timeout = new Promise<"timeout">((resolve) =>
        setTimeout(() => resolve("timeout"), options.drainTimeoutMs ?? 10_000).unref(),
      );
      if ((await Promise.race([closed, timeout])) === "timeout") {
        logger.warn({ open: sessions.size }, "drain timed out; closing remaining connections");
        for (const session of sessions) session.destroy();
        await closed;
      }
      await options.onClose?.();
      logger.info(`${options.name} stopped`);
    })();
    return closing;
  };
  return { port, url: `http://${host}:${port}`, close };
}

/**
 * Closes the process's server and resources, then exits: on SIGTERM or SIGINT, on SIGHUP (the
 * terminal `npm start` ran in went away), and, for a process started with an IPC channel (as
 * `npm start` starts each one), when that channel closes: its parent is gone, perhaps killed
 * without a chance to stop it, and a process left running would hold its port.
 */
export function closeOnSignals(close: () => Promise<void>, logger: Logger): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.once(signal, () => stop(signal));
  if (process.channel) {
    // The channel only watches the parent: it must not keep the process alive by itself.
    process.channel.unref();
    process.once("disconnect", () => stop("parent gone"));
  }
}
