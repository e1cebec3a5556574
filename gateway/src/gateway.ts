/**
 * The edge: one public endpoint speaking Connect (JSON and binary, HTTP/1.1 and
 * h2c), gRPC-Web and gRPC. It authenticates callers, enforces each method's
 * declared access level, rate-limits sign-in calls, and forwards every call to
 * its service over gRPC with a deadline and the caller's token.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { DescMethod, DescMethodUnary, DescService } from "@bufbuild/protobuf";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "@classconnect/gen/grpc/health/v1/health_pb.js";
import {
  Access,
  adminKeySource,
  authorize,
  callAbortKey,
  createClientTelemetryInterceptor,
  createErrorInterceptor,
  createHealthService,
  createLeanGrpcTransport,
  createServerTelemetryInterceptor,
  createTokenVerifier,
  EncodedMessage,
  type Identity,
  identityKey,
  isInternalOnly,
  type KeySource,
  type LeanGrpcTransport,
  type Logger,
  methodAccess,
  PermissionDeniedError,
  ResourceExhaustedError,
  requestJsonOptions,
  resolveIdentity,
  retryAfterOf,
  usersKeySource,
} from "@classconnect/platform";
import {
  type CallOptions,
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  createContextKey,
  createContextValues,
  type HandlerContext,
  type Interceptor,
  type ServiceImpl,
  type Transport,
} from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { clientAddress, rateLimitKey } from "./client-address.js";
import type { GatewayConfig } from "./config.js";
import { acceptCompression, createConnectUnaryHandler, type UnaryRoute } from "./connect-unary.js";
import { createRateLimiter } from "./rate-limiter.js";
import { rateLimitedMethods, routeTable, type Upstream } from "./route-table.js";

/** Headers passed through to services; everything else stays at the edge. */
const forwardedHeaders = ["authorization", "traceparent", "tracestate", "x-request-id"];

export const clientAddressKey = createContextKey<string>("unknown", { description: "client address" });

export interface GatewayDeps {
  logger: Logger;
  /** Override the JWKS sources (tests). */
  userKeys?: KeySource;
  adminKeys?: KeySource;
}

function edgeAuth(deps: { userKeys: KeySource; adminKeys: KeySource }): Interceptor {
  const verifier = createTokenVerifier({ user: deps.userKeys, admin: deps.adminKeys });
  return (next) => async (req) => {
    if (isInternalOnly(req.method)) {
      throw new PermissionDeniedError("this method is only available inside ClassConnect", "INTERNAL_METHOD");
    }
    const levels = methodAccess(req.method).filter((a) => a !== Access.INTERNAL);
    let identity: Identity;
    try {
      identity = await resolveIdentity(req.header, { verifier, serviceToken: undefined });
    } catch (err) {
      if (!levels.includes(Access.PUBLIC)) throw err;
      identity = { kind: "anonymous" };
    }
    authorize(levels, identity);
    req.contextValues.set(identityKey, identity);
    return next(req);
  };
}

function rateLimit(perMinute: number): Interceptor {
  const limiter = createRateLimiter(perMinute);
  return (next) => async (req) => {
    if (rateLimitedMethods.has(`${req.service.typeName}.${req.method.name}`)) {
      const verdict = limiter.take(rateLimitKey(req.contextValues.get(clientAddressKey)));
      if (!verdict.allowed) {
        throw new ResourceExhaustedError(
          `too many requests; retry in ${verdict.retryAfterSeconds} s`,
          "RATE_LIMITED",
          { retry_after_seconds: String(verdict.retryAfterSeconds) },
          verdict.retryAfterSeconds,
        );
      }
    }
    return next(req);
  };
}

type AnyCall = (request: unknown, options: CallOptions) => unknown;

/**
 * An upstream error as the caller should see it: code, message, details and a
 * `retry-after`, without the upstream's protocol headers (content-type,
 * grpc-status, …), which belong to the gateway's own response.
 */
function relayError(err: unknown): ConnectError {
  const e = ConnectError.from(err);
  const relayed = new ConnectError(e.rawMessage, e.code, retryAfterOf(e));
  relayed.details.push(...e.details);
  return relayed;
}

/** Call options for an upstream call: the forwarded headers, the caller's signal, the shorter deadline. */
function upstreamOptions(
  header: Headers,
  signal: AbortSignal | undefined,
  callerTimeoutMs: number | undefined,
  defaultTimeoutMs: number,
): CallOptions & { headers: Headers; timeoutMs: number } {
  const headers = new Headers();
  for (const name of forwardedHeaders) {
    const value = header.get(name);
    if (value !== null) headers.set(name, value);
  }
  return {
    headers,
    signal,
    timeoutMs: callerTimeoutMs === undefined ? defaultTimeoutMs : Math.min(callerTimeoutMs, defaultTimeoutMs),
  };
}

/** The lean Connect path's routes: every unary method of `service`, called upstream on `transport`. */
function unaryRoutes(
  service: DescService,
  transport: LeanGrpcTransport,
  defaultTimeoutMs: number,
): UnaryRoute[] {
  return service.methods
    .filter((m): m is DescMethodUnary => m.methodKind === "unary")
    .map((method) => ({
      service,
      method,
      async call(req, timeoutMs) {
        // The lean edge gives each call a LazyAbort: passed on, the upstream call listens to it
        // without making the caller's AbortSignal (callAbortKey).
        const lazy = req.contextValues.get(callAbortKey) !== undefined;
        const o = upstreamOptions(req.header, lazy ? undefined : req.signal, timeoutMs, defaultTimeoutMs);
        const contextValues = lazy ? req.contextValues : undefined;
        try {
          const message: unknown = req.message;
          const response =
            message instanceof EncodedMessage
              ? await transport.forward(method, o.signal, o.timeoutMs, o.headers, message, contextValues)
              : await transport.unary(method, o.signal, o.timeoutMs, o.headers, req.message, contextValues);
          return response.message;
        } catch (err) {
          throw relayError(err);
        }
      },
    }));
}

/** An implementation of `service` whose every method calls the same method upstream (connect-node's path). */
function forwarder(service: DescService, transport: Transport, defaultTimeoutMs: number) {
  const client = createClient(service, transport) as unknown as Record<string, AnyCall>;
  const options = (ctx: HandlerContext): CallOptions =>
    upstreamOptions(ctx.requestHeader, ctx.signal, ctx.timeoutMs(), defaultTimeoutMs);
  const impl: Record<string, unknown> = {};
  for (const method of service.methods as DescMethod[]) {
    const call = client[method.localName]!;
    switch (method.methodKind) {
      case "unary":
        impl[method.localName] = async (req: unknown, ctx: HandlerContext) => {
          try {
            return await call(req, options(ctx));
          } catch (err) {
            throw relayError(err);
          }
        };
        break;
      case "server_streaming":
        impl[method.localName] = async function* (req: unknown, ctx: HandlerContext) {
          try {
            yield* call(req, options(ctx)) as AsyncIterable<unknown>;
          } catch (err) {
            throw relayError(err);
          }
        };
        break;
      default:
        // No client- or bidi-streaming method is public; refuse rather than buffer.
        impl[method.localName] = () => {
          throw new ConnectError(
            "streaming uploads are not supported through the gateway",
            Code.Unimplemented,
          );
        };
    }
  }
  return impl;
}

type NodeHandler = ReturnType<typeof connectNodeAdapter>;

/**
 * The gateway's request handler: Connect unary calls on the lean path
 * (connect-unary.ts), everything else through connect-node, then `fallback`
 * (paths that are not RPCs).
 */
export function createGatewayHandler(
  config: GatewayConfig,
  deps: GatewayDeps,
  fallback?: Parameters<typeof connectNodeAdapter>[0]["fallback"],
  /** Wraps connect-node's handler (the edge's fix for its unparsable-binary answer). */
  wrapConnectNode: (handler: NodeHandler) => NodeHandler = (handler) => handler,
): NodeHandler {
  const transports = Object.fromEntries(
    (Object.keys(config.upstreams) as Upstream[]).map((name) => [
      name,
      createLeanGrpcTransport({
        baseUrl: config.upstreams[name],
        interceptors: [createClientTelemetryInterceptor("gateway")],
      }),
    ]),
  ) as Record<Upstream, LeanGrpcTransport>;
  const upstreamHealth = Object.fromEntries(
    (Object.keys(transports) as Upstream[]).map((name) => [name, createClient(Health, transports[name])]),
  ) as Record<Upstream, ReturnType<typeof createClient<typeof Health>>>;

  const checkUpstream = async (name: Upstream) => {
    try {
      return (await upstreamHealth[name].check({}, { timeoutMs: 2000 })).status;
    } catch {
      return ServingStatus.NOT_SERVING;
    }
  };
  // "" is the gateway itself, and its readiness: it answers whatever the services' state (a
  // call to a service that is down fails on its own, UNAVAILABLE). Were it to follow them,
  // one service's outage would take every gateway out of its load balancer and the whole
  // API offline. A service's own name asks for that service through the gateway.
  const health = createHealthService(async (service) => {
    if (service === "") return ServingStatus.SERVING;
    const route = routeTable.find((r) => r.service.typeName === service);
    return route ? checkUpstream(route.upstream) : ServingStatus.SERVICE_UNKNOWN;
  });

  const interceptors = [
    createServerTelemetryInterceptor("gateway"),
    createErrorInterceptor("gateway", deps.logger),
    rateLimit(config.authRateLimitPerMinute),
    edgeAuth({
      userKeys: deps.userKeys ?? usersKeySource(config.upstreams.users),
      adminKeys: deps.adminKeys ?? adminKeySource(config.upstreams.admin),
    }),
  ];
  const contextValues = (req: {
    headers: IncomingHttpHeaders;
    socket: { remoteAddress?: string | undefined };
  }) => {
    const address = clientAddress(
      req.headers["x-forwarded-for"],
      req.socket.remoteAddress,
      config.trustedProxies,
    );
    return createContextValues().set(clientAddressKey, address);
  };
  const connectNode = connectNodeAdapter({
    routes(router: ConnectRouter) {
      router.service(Health, health);
      for (const { service, upstream } of routeTable) {
        router.service(
          service,
          forwarder(service, transports[upstream], config.upstreamTimeoutMs) as Partial<
            ServiceImpl<DescService>
          >,
        );
      }
    },
    interceptors,
    acceptCompression,
    readMaxBytes: config.maxRequestBytes,
    jsonOptions: requestJsonOptions,
    contextValues,
    ...(fallback ? { fallback } : {}),
  });
  return createConnectUnaryHandler({
    routes: routeTable.flatMap(({ service, upstream }) =>
      unaryRoutes(service, transports[upstream], config.upstreamTimeoutMs),
    ),
    interceptors,
    readMaxBytes: config.maxRequestBytes,
    contextValues,
    fallback: wrapConnectNode(connectNode) as Parameters<typeof createConnectUnaryHandler>[0]["fallback"],
  }) as NodeHandler;
}
