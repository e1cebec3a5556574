/**
 * The gateway's lean path for the calls clients make most: Connect unary, POST
 * (JSON or binary) and GET (methods without side effects), with an uncompressed
 * request. It runs the same interceptors as the connect-node handler and uses
 * connect's own helpers for content types, timeouts, compression negotiation,
 * serialization, error JSON and HTTP status codes, so clients see the same
 * answers. A message is forwarded in the encoding it came in and its answer
 * comes back so (EncodedMessage): the service reads and writes JSON or protobuf
 * itself, and the edge neither decodes nor encodes what it only passes on. Every
 * other request (gRPC, gRPC-Web, streaming, compressed request bodies, unknown
 * paths) goes to connect-node unchanged.
 *
 * Why: connect-node's generic handler (universal request and response
 * adapters, async-iterable bodies, linked abort controllers and a DOMException
 * per call) cost the gateway more CPU per call than the service it calls; see
 * bench/README.md.
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { DescMessage, DescMethodUnary, DescService, MessageShape } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import {
  callAbortKey,
  EncodedMessage,
  headersFrom,
  LazyAbort,
  requestJsonOptions,
  unparsableBinaryMessage,
  withInterceptors,
  withLazySignal,
} from "@classconnect/platform";
import {
  Code,
  ConnectError,
  type ContextValues,
  type Interceptor,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import {
  type Compression,
  compressionNegotiate,
  createMethodSerializationLookup,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  errorToJsonBytes,
  parseContentType,
  parseTimeout,
} from "@connectrpc/connect/protocol-connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

export interface UnaryRoute {
  service: DescService;
  method: DescMethodUnary<DescMessage, DescMessage>;
  /**
   * Answers the call; `timeoutMs` is the caller's deadline, if it set one. A request whose
   * message is an EncodedMessage is answered with one in the same encoding.
   */
  call(req: UnaryRequest, timeoutMs: number | undefined): Promise<MessageShape<DescMessage> | EncodedMessage>;
}

/**
 * A compression whose failure to decompress a caller's body is that caller's bad input.
 * connect-node answers INTERNAL for zlib errors it does not list, such as a gzip or
 * brotli body cut short ("unexpected end of file").
 */
function refusingBadBodies(c: Compression): Compression {
  return {
    ...c,
    decompress: (bytes, readMaxBytes) =>
      c.decompress(bytes, readMaxBytes).catch((err: unknown) => {
        const e = ConnectError.from(err);
        if (e.code !== Code.Internal) throw e;
        throw new ConnectError(`${c.name} body could not be decompressed`, Code.InvalidArgument);
      }),
  };
}

/** As connect-node's defaults: gzip and brotli, responses from 1 KiB. */
export const acceptCompression = [compressionGzip, compressionBrotli].map(refusingBadBodies);
const compressMinBytes = 1024;
/** The answers' compression by the callers' Accept-Encoding: a few distinct values, each client sends its own. */
const negotiated = new Map<string, Compression | null>();
function responseCompression(accepted: string | undefined): Compression | null {
  let compression = negotiated.get(accepted ?? "");
  if (compression === undefined) {
    compression = compressionNegotiate(acceptCompression, null, accepted ?? null, "accept-encoding").response;
    if (negotiated.size < 64) negotiated.set(accepted ?? "", compression);
  }
  return compression;
}
const cancelled = new ConnectError("the client closed the call", Code.Canceled);
/**
 * Messages up to this size are forwarded as they came. A larger one (a file upload) is
 * decoded here and sent on in binary, which services accept up to their own limit: JSON
 * carries bytes in base64, a third larger than the file.
 */
const defaultForwardMaxBytes = 1024 * 1024;

export function createConnectUnaryHandler(options: {
  routes: UnaryRoute[];
  interceptors: Interceptor[];
  readMaxBytes: number;
  contextValues: (req: Req) => ContextValues;
  fallback: (req: Req, res: Res) => void;
  /** Messages up to this size are forwarded as they came (default 1 MiB); larger ones are decoded here. */
  forwardMaxBytes?: number;
}): (req: Req, res: Res) => void {
  const { interceptors, readMaxBytes, fallback } = options;
  const forwardMaxBytes = options.forwardMaxBytes ?? defaultForwardMaxBytes;
  const routes = new Map(
    options.routes.map((route) => [
      `/${route.service.typeName}/${route.method.name}`,
      {
        ...route,
        get: route.method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS,
        serialization: createMethodSerializationLookup(route.method, undefined, requestJsonOptions, {
          readMaxBytes,
          writeMaxBytes: 0xffffffff,
        }),
      },
    ]),
  );
  type Route = NonNullable<ReturnType<typeof routes.get>>;

  return (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const route = routes.get(q < 0 ? url : url.slice(0, q));
    if (!route) return fallback(req, res);
    if (req.method === "POST" && q < 0) {
      const type = parseContentType(req.headers["content-type"] ?? null);
      const encoding = req.headers["content-encoding"];
      if (!type || type.stream || (encoding !== undefined && encoding !== "identity")) {
        return fallback(req, res);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size <= readMaxBytes) chunks.push(chunk);
      });
      req.on("end", () => {
        void serve(
          route,
          req,
          res,
          type.binary,
          size <= readMaxBytes ? Buffer.concat(chunks, size) : undefined,
        );
      });
      return;
    }
    if (req.method === "GET" && route.get && q >= 0) {
      const query = new URLSearchParams(url.slice(q + 1));
      const encoding = query.get("encoding");
      const compression = query.get("compression");
      const message = query.get("message") ?? "";
      let body: Uint8Array | ConnectError;
      try {
        // Buffer.from, not a TextEncoder: a tenth of the cost for a short message.
        body = query.get("base64") === "1" ? base64Decode(message) : Buffer.from(message, "utf8");
      } catch {
        // Refused here, whatever the encoding: connect-node answers INTERNAL for it.
        body = new ConnectError("the message parameter is not valid base64", Code.InvalidArgument);
      }
      if (
        body instanceof Uint8Array &&
        ((encoding !== "json" && encoding !== "proto") ||
          (compression !== null && compression !== "identity"))
      ) {
        return fallback(req, res);
      }
      req.resume();
      void serve(
        route,
        req,
        res,
        encoding === "proto",
        body instanceof Uint8Array && body.length > readMaxBytes ? undefined : body,
      );
      return;
    }
    fallback(req, res);
  };

  /** Answers a call whose request message is `body`: undefined when too large, an error when unreadable. */
  async function serve(
    route: Route,
    req: Req,
    res: Res,
    binary: boolean,
    body: Uint8Array | ConnectError | undefined,
  ) {
    /** The answer's HTTP headers: the response's own, and its trailers as `trailer-` headers (Connect unary). */
    let head: Record<string, string> = {
      "content-type": binary ? contentTypeUnaryProto : contentTypeUnaryJson,
    };
    let status = 200;
    let output: Uint8Array;
    try {
      const timeout = parseTimeout(
        (req.headers["connect-timeout-ms"] as string | undefined) ?? null,
        Number.MAX_SAFE_INTEGER,
      );
      if (timeout.error) throw timeout.error;
      if (!body) throw new ConnectError(`message larger than ${readMaxBytes} bytes`, Code.ResourceExhausted);
      if (body instanceof ConnectError) throw body;
      let message: MessageShape<DescMessage> | EncodedMessage;
      if (body.length <= forwardMaxBytes) {
        // The service reads it, with the same codec and the same answers to bad input.
        message = new EncodedMessage(binary ? "proto" : "json", body);
      } else {
        try {
          message = route.serialization.getI(binary).parse(body);
        } catch (err) {
          // connect-node calls an unparsable binary body an internal error; it is the client's.
          throw binary ? new ConnectError(unparsableBinaryMessage, Code.InvalidArgument) : err;
        }
      }
      // The call's cancellation: its AbortSignal is made only if someone reads it (the
      // upstream call listens without one, callAbortKey).
      const cancel = new LazyAbort();
      res.once("close", () => {
        if (!res.writableFinished) cancel.abort(cancelled);
      });
      const contextValues = options.contextValues(req).set(callAbortKey, cancel);
      const response = await withInterceptors(
        interceptors,
        async (r): Promise<UnaryResponse> => ({
          stream: false,
          service: route.service,
          method: route.method,
          header: new Headers(),
          trailer: new Headers(),
          // An EncodedMessage when forwarded: the interceptors here never read a message.
          message: (await route.call(r, timeout.timeoutMs)) as UnaryResponse["message"],
        }),
      )(
        // Its signal is made from the LazyAbort only if an interceptor or handler reads it.
        withLazySignal({
          stream: false,
          service: route.service,
          method: route.method,
          requestMethod: req.method ?? "POST",
          url: `http://${req.headers.host ?? "gateway"}${req.url}`,
          header: headersFrom(req.headers),
          contextValues,
          message,
        }) as unknown as UnaryRequest,
      );
      response.header.forEach((value, key) => {
        head[key] = value;
      });
      response.trailer.forEach((value, key) => {
        const name = `trailer-${key}`;
        head[name] = head[name] === undefined ? value : `${head[name]}, ${value}`;
      });
      output =
        response.message instanceof EncodedMessage
          ? response.message.bytes
          : route.serialization.getO(binary).serialize(response.message);
    } catch (err) {
      const error =
        err instanceof ConnectError
          ? err
          : new ConnectError("internal error", Code.Internal, undefined, undefined, err);
      status = codeToHttpStatus(error.code);
      head = { "content-type": contentTypeUnaryJson };
      error.metadata.forEach((value, key) => {
        head[key] = value;
      });
      output = errorToJsonBytes(error, {});
    }
    const compression = responseCompression(req.headers["accept-encoding"]);
    if (compression && output.byteLength >= compressMinBytes) {
      output = await compression.compress(output);
      head["content-encoding"] = compression.name;
    }
    head["content-length"] = String(output.byteLength);
    if (res.destroyed || res.writableEnded) return;
    (res as http.ServerResponse).writeHead(status, head);
    (res as http.ServerResponse).end(output);
  }
}
