/**
 * The client side of the lean unary gRPC path (see grpc-unary.ts): a connect
 * `Transport` whose unary calls go straight onto one `node:http2` session per
 * upstream, with the same interceptors, deadlines (grpc-timeout), cancellation
 * and connect's own decoding of statuses and error details. Streaming calls use
 * connect-node's gRPC transport; a server-streaming call whose stream the server
 * refused is sent again, as a unary one is. The gateway's upstream calls and the services'
 * calls to each other use it: connect-node's client costs more per call than
 * the server it calls (ARCHITECTURE.md, performance notes).
 */
import * as http2 from "node:http2";
import * as net from "node:net";
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  fromBinary,
  isMessage,
  toBinary,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { codeFromHttpStatus, findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { callAbortKey, type LazyAbort, withLazySignal } from "./call-context.js";
import {
  EncodedMessage,
  envelope,
  headersFrom,
  releaseStream,
  singleMessage,
  withInterceptors,
} from "./grpc-wire.js";

/** The lean transport, which can also forward a message without decoding it. */
export interface LeanGrpcTransport extends Transport {
  /**
   * As `unary` (the same arguments, in the same order): a unary call whose message travels in the encoding it came in (gRPC's `+json` or
   * `+proto` codec) and whose answer comes back in the same one, undecoded: the gateway's
   * forwarding. Interceptors see the EncodedMessage as the request's and the answer's message,
   * and `header` itself as the request's headers (not a copy: they may change it).
   */
  forward(
    method: DescMethodUnary,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: Headers,
    message: EncodedMessage,
    contextValues: ContextValues | undefined,
  ): Promise<{ header: Headers; trailer: Headers; message: EncodedMessage }>;
}

export interface LeanGrpcTransportOptions {
  baseUrl: string;
  interceptors?: Interceptor[];
  /** Deadline for calls that set none (undefined: none). */
  defaultTimeoutMs?: number;
}

/**
 * The signal of calls made without one: it never aborts (its controller is
 * dropped), so a call need not make, watch and unwatch a signal of its own.
 */
const neverAborted = new AbortController().signal;

/** Listens for `signal`'s abort; returns what stops listening (nothing to do for a signal that never aborts). */
function watchSignal(signal: AbortSignal, onAbort: () => void): (() => void) | undefined {
  if (signal === neverAborted) return undefined;
  signal.addEventListener("abort", onAbort);
  return () => signal.removeEventListener("abort", onAbort);
}

/** How many times a call is sent when the server refuses its stream before processing it. */
const MAX_ATTEMPTS = 3;

/**
 * Whether connect-node failed a call because the server refused its stream (REFUSED_STREAM:
 * never processed, RFC 9113 8.7): no answer came (no headers or trailers), and the error
 * names that reset code, as connect-node and Node report it.
 */
function refusedStream(err: unknown): boolean {
  if (!(err instanceof ConnectError) || !err.metadata.keys().next().done) return false;
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e.message.includes("REFUSED_STREAM")) return true;
  }
  return false;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** What a finished stream answered: the response, or the error its status or shape means. */
function readAnswer(
  base: string,
  req: UnaryRequest,
  method: DescMethodUnary<DescMessage, DescMessage>,
  responseHeaders: http2.IncomingHttpHeaders | undefined,
  trailers: http2.IncomingHttpHeaders | undefined,
  chunks: Buffer[],
): UnaryResponse | ConnectError {
  if (!responseHeaders)
    return new ConnectError(`${base} closed the call without answering`, Code.Unavailable);
  const status = Number(responseHeaders[":status"] ?? 0);
  if (status !== 200) return new ConnectError(`HTTP ${status} from ${base}`, codeFromHttpStatus(status));
  const header = headersFrom(responseHeaders);
  const trailer = headersFrom(trailers);
  // A trailers-only answer carries its status in the headers.
  const error = findTrailerError(trailers ? trailer : header);
  if (error) return error;
  if (!trailers && !header.has("grpc-status")) {
    return new ConnectError(`${base} ended the call without a status`, Code.Internal);
  }
  const payload = singleMessage(Buffer.concat(chunks));
  if (!payload) return new ConnectError(`${base} answered with a malformed message`, Code.Internal);
  try {
    const encoded = req.message instanceof EncodedMessage ? req.message : undefined;
    return {
      stream: false,
      service: req.service,
      method,
      header,
      trailer,
      // A forwarded call's answer stays encoded (LeanGrpcTransport.forward).
      message: (encoded
        ? new EncodedMessage(encoded.encoding, payload)
        : fromBinary(method.output, payload)) as UnaryResponse["message"],
    };
  } catch (err) {
    return new ConnectError(`cannot decode the answer: ${(err as Error).message}`, Code.Internal);
  }
}

export function createLeanGrpcTransport(options: LeanGrpcTransportOptions): LeanGrpcTransport {
  const interceptors = options.interceptors ?? [];
  const streaming = createGrpcTransport({
    baseUrl: options.baseUrl,
    interceptors,
    ...(options.defaultTimeoutMs !== undefined ? { defaultTimeoutMs: options.defaultTimeoutMs } : {}),
  });
  const base = options.baseUrl.replace(/\/$/, "");
  const target = new URL(base);
  let session: http2.ClientHttp2Session | undefined;
  let active = 0;
  const connection = (): http2.ClientHttp2Session => {
    if (session && !session.closed && !session.destroyed) return session;
    // noDelay: each call goes out at once, not held by Nagle until the previous one is acknowledged.
    const s = http2.connect(base, {
      createConnection: () =>
        net.connect({ host: target.hostname, port: Number(target.port || 80), noDelay: true }),
    });
    const forget = () => {
      if (session === s) session = undefined;
    };
    s.on("error", forget);
    s.on("close", forget);
    s.on("goaway", forget);
    s.unref();
    session = s;
    return s;
  };

  /**
   * One call on the wire: resolves with the response or rejects with a ConnectError.
   * A stream the server refused (REFUSED_STREAM, which a GOAWAY also gives the streams
   * it did not take, e.g. from a service starting to drain) never reached a handler
   * (RFC 9113, 8.7): it is sent again, on a new connection if that one is going away,
   * up to MAX_ATTEMPTS times within the same deadline.
   */
  const send = (
    req: UnaryRequest,
    timeoutMs: number | undefined,
    cancel: LazyAbort | undefined,
  ): Promise<UnaryResponse> =>
    new Promise((resolve, reject) => {
      const method = req.method as DescMethodUnary<DescMessage, DescMessage>;
      const cancelled = () => ConnectError.from(cancel ? cancel.reason : req.signal.reason, Code.Canceled);
      if (cancel ? cancel.aborted : req.signal.aborted) {
        reject(cancelled());
        return;
      }
      const encoded = req.message instanceof EncodedMessage ? req.message : undefined;
      const head: http2.OutgoingHttpHeaders = {
        ":method": "POST",
        ":path": `/${req.service.typeName}/${method.name}`,
        "content-type": `application/grpc+${encoded?.encoding ?? "proto"}`,
        te: "trailers",
      };
      req.header.forEach((value, key) => {
        head[key] = value;
      });
      const frame = envelope(encoded ? encoded.bytes : toBinary(method.input, req.message));
      const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;

      let settled = false;
      let s: http2.ClientHttp2Session | undefined;
      let stream: http2.ClientHttp2Stream | undefined;
      /** Lets go of the current attempt's session (it stays open for other calls). */
      const release = () => {
        if (s && --active === 0) s.unref();
        s = undefined;
      };
      const finish = (error: ConnectError | undefined, response?: UnaryResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        unwatch?.();
        release();
        if (error) {
          if (stream && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
          reject(error);
        } else resolve(response!);
      };
      const onAbort = () => finish(cancelled());
      const unwatch = cancel ? cancel.onAbort(onAbort) : watchSignal(req.signal, onAbort);
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(
              () => finish(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
              timeoutMs,
            );

      const attempt = (n: number) => {
        if (deadline !== undefined)
          head["grpc-timeout"] = `${Math.max(1, Math.ceil(deadline - Date.now()))}m`;
        let current: http2.ClientHttp2Stream;
        try {
          s = connection();
          current = s.request(head);
        } catch (err) {
          s = undefined;
          finish(new ConnectError(`cannot reach ${base}: ${(err as Error).message}`, Code.Unavailable));
          return;
        }
        stream = current;
        if (active++ === 0) s.ref();
        let responseHeaders: http2.IncomingHttpHeaders | undefined;
        let trailers: http2.IncomingHttpHeaders | undefined;
        const chunks: Buffer[] = [];
        const refused = () => !responseHeaders && current.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM;
        current.on("response", (h) => {
          responseHeaders = h;
        });
        current.on("trailers", (t) => {
          trailers = t;
        });
        current.on("data", (chunk: Buffer) => chunks.push(chunk));
        current.on("error", (err) => {
          // A refused stream is sent again when it closes, below.
          if (refused() && n < MAX_ATTEMPTS) return;
          finish(new ConnectError(`${base} failed the call: ${err.message}`, Code.Unavailable));
        });
        current.on("close", () => {
          releaseStream(current);
          if (settled) return;
          if (refused() && n < MAX_ATTEMPTS) {
            // A session that got a GOAWAY is closed: `connection` opens a new one. After a
            // plain refusal (too many streams), the next attempt may use the same session.
            release();
            attempt(n + 1);
            return;
          }
          const answer = readAnswer(base, req, method, responseHeaders, trailers, chunks);
          if (answer instanceof ConnectError) finish(answer);
          else finish(undefined, answer);
        });
        current.end(frame);
      };
      attempt(1);
    });

  /** A unary call through the interceptors; `message` is a message, or an EncodedMessage to forward. */
  const unary = (
    method: DescMethodUnary,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    header: Headers,
    message: unknown,
    contextValues: ContextValues | undefined,
  ): Promise<UnaryResponse> => {
    const deadline = timeoutMs ?? options.defaultTimeoutMs;
    // Without a signal, a LazyAbort in the context values cancels the call (callAbortKey).
    const cancel = signal ? undefined : contextValues?.get(callAbortKey);
    const request = {
      stream: false,
      service: method.parent,
      method,
      requestMethod: "POST",
      url: `${base}/${method.parent.typeName}/${method.name}`,
      header,
      contextValues: contextValues ?? createContextValues(),
      message,
    } as unknown as UnaryRequest;
    if (cancel) withLazySignal(request);
    else (request as { signal: AbortSignal }).signal = signal ?? neverAborted;
    return withInterceptors(interceptors, (r) => send(r, deadline, cancel))(request);
  };

  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const message = isMessage(input, method.input) ? input : create(method.input, input);
      // A copy: interceptors may change the request's headers, not the caller's.
      return (await unary(method, signal, timeoutMs, new Headers(header), message, contextValues)) as never;
    },
    async forward(method, signal, timeoutMs, header, message, contextValues) {
      return (await unary(method, signal, timeoutMs, header, message, contextValues)) as never;
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      if (method.methodKind !== "server_streaming") {
        return streaming.stream(method, signal, timeoutMs, header, input, contextValues);
      }
      // One request message: kept, so that a refused stream can be sent again within the deadline.
      const messages = await collect(input);
      const timeout = timeoutMs ?? options.defaultTimeoutMs;
      const deadline = timeout === undefined ? undefined : Date.now() + timeout;
      for (let n = 1; ; n++) {
        try {
          const left = deadline === undefined ? undefined : Math.max(1, deadline - Date.now());
          return await streaming.stream(
            method,
            signal,
            left,
            header,
            createAsyncIterable(messages),
            contextValues,
          );
        } catch (err) {
          if (n >= MAX_ATTEMPTS || signal?.aborted || !refusedStream(err)) throw err;
        }
      }
    },
  };
}
