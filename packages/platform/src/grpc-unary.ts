/**
 * A lean path for the calls services make most: unary gRPC (uncompressed
 * protobuf, or JSON as the gateway forwards a Connect JSON call) on the HTTP/2
 * server. It runs the same interceptors (telemetry, error mapping,
 * authentication, validation) and the same handlers as connect-node, and
 * encodes statuses, error details and deadlines with connect's own gRPC helpers
 * and JSON with connect's own serialization; everything else (Connect,
 * gRPC-Web, streaming, compressed bodies) goes to connect-node unchanged.
 *
 * Why: connect-node's generic handler stack costs several times what the
 * request needs (async-iterable envelope pipelines, a DOMException per
 * request); see bench/README.md.
 */
import * as http2 from "node:http2";
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  type DescService,
  fromBinary,
  isMessage,
  type Message,
  toBinary,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createContextValues,
  type HandlerContext,
  type Interceptor,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { createMethodSerializationLookup, type Serialization } from "@connectrpc/connect/protocol";
import { grpcStatusOk, parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { type CallContext, createCallContext } from "./call-context.js";
import {
  envelope,
  headersFrom,
  recordOf,
  releaseStream,
  requestJsonOptions,
  singleMessage,
  unparsableBinaryMessage,
  withInterceptors,
} from "./grpc-wire.js";

type UnaryImpl = (request: unknown, context: HandlerContext) => unknown;
/** A route's JSON codec (connect's own), for gRPC's `+json`. */
type JsonCodec = { input: Serialization<Message>; output: Serialization<Message> };

interface Route {
  service: DescService;
  method: DescMethodUnary<DescMessage, DescMessage>;
  impl: UnaryImpl;
}

/** The unary methods registered on `router`, by request path, as `register` adds them. */
export function recordUnaryRoutes(register: (router: ConnectRouter) => void): {
  routes: Map<string, Route>;
  register: (router: ConnectRouter) => void;
} {
  const routes = new Map<string, Route>();
  return {
    routes,
    register(router) {
      const recording: ConnectRouter = {
        get handlers() {
          return router.handlers;
        },
        service(service, impl, options) {
          for (const method of service.methods) {
            const fn = (impl as Record<string, unknown>)[method.localName];
            if (method.methodKind === "unary" && typeof fn === "function") {
              routes.set(`/${service.typeName}/${method.name}`, {
                service,
                method: method as DescMethodUnary<DescMessage, DescMessage>,
                impl: fn.bind(impl) as UnaryImpl,
              });
            }
          }
          return router.service(service, impl, options);
        },
        rpc: router.rpc.bind(router) as ConnectRouter["rpc"],
      };
      register(recording);
    },
  };
}

/** The codecs served here, by request content type (gRPC without a codec means protobuf). */
const codecs = new Map<string, "proto" | "json">([
  ["application/grpc", "proto"],
  ["application/grpc+proto", "proto"],
  ["application/grpc+json", "json"],
]);
/** The reason a request's signal carries when its stream closes early (no DOMException per call). */
const cancelled = new ConnectError("the client closed the call", Code.Canceled);
/** The reason a finished call's context is aborted with (that releases its deadline timer). */
const completed = new ConnectError("the call is complete", Code.Canceled);
const contextOf = Symbol("call context");
/**
 * A request's `signal`: its context's, made only when read (see call-context.ts). One
 * getter for every request, not one written in each request's literal: that would be a
 * closure per call, which V8 keeps in the object's shape, so that everything it reached
 * outlived the young-generation collections (bench/README.md, Garbage).
 */
const signalProperty: PropertyDescriptor = {
  get(this: { [contextOf]: CallContext }) {
    return this[contextOf].signal;
  },
  enumerable: true,
};

/**
 * A handler of `node:http2` server streams: serves unary gRPC calls of `routes`
 * itself, on the stream API (no compat request and response objects), and
 * returns false for every other stream, which then goes to connect-node.
 */
export function createUnaryGrpcHandler(options: {
  routes: Map<string, Route>;
  interceptors: Interceptor[];
  readMaxBytes: number;
}): (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean {
  const { routes, interceptors, readMaxBytes } = options;
  /** Each route's JSON codec: connect's own, with the platform's request options (unknown keys refused). */
  const json = new Map(
    [...routes.values()].map((route) => {
      const lookup = createMethodSerializationLookup(route.method, undefined, requestJsonOptions, {
        readMaxBytes,
        writeMaxBytes: 0xffffffff,
      });
      return [route, { input: lookup.getI(false), output: lookup.getO(false) }];
    }),
  );
  return (stream, headers) => {
    const path = headers[":path"] ?? "";
    const route = headers[":method"] === "POST" ? routes.get(path) : undefined;
    const encoding = headers["grpc-encoding"];
    const codec = codecs.get(headers["content-type"] ?? "");
    if (!route || !codec || (encoding !== undefined && encoding !== "identity")) {
      return false;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > readMaxBytes + 5) tooLarge = true;
      else chunks.push(chunk);
    });
    stream.on("end", () => {
      void serve(
        route,
        codec === "json" ? json.get(route) : undefined,
        stream,
        headers,
        path,
        tooLarge ? undefined : Buffer.concat(chunks, size),
      );
    });
    // A stream reset by the client (cancelled, gone) must not throw on this session.
    stream.on("error", () => {});
    stream.once("close", () => releaseStream(stream));
    return true;
  };

  /** `jsonCodec`: the route's JSON codec for a `+json` call; a protobuf call has none. */
  async function serve(
    route: Route,
    jsonCodec: JsonCodec | undefined,
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    path: string,
    body: Buffer | undefined,
  ): Promise<void> {
    /** The answer's trailers: `grpc-status` 0 after the handler's own, or the error's status. */
    let trailer: Record<string, string>;
    let responseHeader: Headers | undefined;
    let output: Uint8Array | undefined;
    let context: CallContext | undefined;
    try {
      if (!body) {
        throw new ConnectError(`message larger than ${readMaxBytes} bytes`, Code.ResourceExhausted);
      }
      if (body.length >= 5 && body[0] !== 0) {
        throw new ConnectError("compressed message without grpc-encoding", Code.Internal);
      }
      const payload = singleMessage(body);
      if (!payload) throw new ConnectError("a unary call carries exactly one message", Code.InvalidArgument);
      const timeout = parseTimeout(
        (headers["grpc-timeout"] as string | undefined) ?? null,
        Number.MAX_SAFE_INTEGER,
      );
      if (timeout.error) throw timeout.error;
      const url = `http://${headers[":authority"] ?? "localhost"}${path}`;
      const ctx = createCallContext({
        service: route.service,
        method: route.method,
        protocolName: "grpc",
        url,
        timeoutMs: timeout.timeoutMs,
        requestHeader: headersFrom(headers),
        contextValues: createContextValues(),
      });
      context = ctx;
      // A stream that closes with an error code was reset (the client cancelled or went away).
      stream.once("close", () => {
        if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) ctx.abort(cancelled);
      });
      let message: unknown;
      if (jsonCodec) {
        // connect's JSON codec answers what it cannot read with INVALID_ARGUMENT, as connect-node does.
        message = jsonCodec.input.parse(payload);
      } else {
        try {
          message = fromBinary(route.method.input, payload);
        } catch {
          throw new ConnectError(unparsableBinaryMessage, Code.InvalidArgument);
        }
      }
      const call = async (r: UnaryRequest): Promise<UnaryResponse> => {
        const out = await route.impl(r.message, ctx);
        return {
          stream: false,
          service: route.service,
          method: route.method,
          header: ctx.responseHeader,
          trailer: ctx.responseTrailer,
          message: isMessage(out, route.method.output)
            ? out
            : create(route.method.output, out as Parameters<typeof create>[1]),
        };
      };
      const request = {
        stream: false,
        service: route.service,
        method: route.method,
        requestMethod: "POST",
        url,
        header: ctx.requestHeader,
        contextValues: ctx.values,
        message,
        [contextOf]: ctx,
      };
      Object.defineProperty(request, "signal", signalProperty);
      const response = await withInterceptors(interceptors, call)(request as unknown as UnaryRequest);
      responseHeader = response.header;
      output = jsonCodec
        ? jsonCodec.output.serialize(response.message)
        : toBinary(route.method.output, response.message);
      trailer = recordOf(response.trailer);
      trailer["grpc-status"] = grpcStatusOk;
    } catch (err) {
      output = undefined;
      trailer = recordOf(setTrailerStatus(new Headers(), ConnectError.from(err, Code.Internal)));
    } finally {
      context?.abort(completed);
    }
    if (stream.destroyed || stream.closed || stream.headersSent) return;
    const head: http2.OutgoingHttpHeaders = {
      ":status": 200,
      "content-type": jsonCodec ? "application/grpc+json" : "application/grpc+proto",
      ...(responseHeader && recordOf(responseHeader)),
    };
    if (output === undefined) {
      // Trailers-only: the status travels in the headers of an empty response.
      stream.respond({ ...head, ...trailer }, { endStream: true });
      return;
    }
    stream.respond(head, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers(trailer));
    stream.end(envelope(output));
  }
}
