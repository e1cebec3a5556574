/** gRPC wire details shared by the lean server and client paths (grpc-unary.ts, grpc-client.ts). */
import type { Http2Stream, IncomingHttpHeaders } from "node:http2";
import type { Interceptor, UnaryRequest, UnaryResponse } from "@connectrpc/connect";

/** One uncompressed gRPC message: flags byte 0, 4-byte big-endian length, payload. */
export function envelope(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame[0] = 0;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

/** The payload of a body holding exactly one uncompressed message, or undefined. */
export function singleMessage(body: Buffer): Buffer | undefined {
  if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) return undefined;
  return body.subarray(5);
}

const ignoreError = () => {};

/**
 * Lets go of a closed stream's listeners (a quiet one stays for errors). Node keeps a
 * closed stream reachable until the next full garbage collection (on the client side,
 * through the shape of the function each `session.request()` binds), and with it every
 * closure still listening: the call's request, answer and promise outlived the
 * young-generation collections (bench/README.md, Garbage).
 */
export function releaseStream(stream: Http2Stream): void {
  stream.removeAllListeners();
  stream.on("error", ignoreError);
}

/** HTTP/2 headers as fetch Headers, without pseudo-headers (":path", ":status", …). */
export function headersFrom(h: IncomingHttpHeaders | undefined): Headers {
  const out = new Headers();
  if (!h) return out;
  // Names arrive unique (node:http2 gathers repeats into an array), so append, cheaper than set, is enough.
  for (const key in h) {
    const value = h[key];
    if (key.startsWith(":") || value === undefined) continue;
    out.append(key, Array.isArray(value) ? value.join(", ") : String(value));
  }
  return out;
}

/** Headers as a plain record, for node:http2's writeHead and addTrailers. */
export function recordOf(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

/** `call` wrapped by `interceptors`, the first one outermost (as connect applies them). */
export function withInterceptors(
  interceptors: Interceptor[],
  call: (req: UnaryRequest) => Promise<UnaryResponse>,
): (req: UnaryRequest) => Promise<UnaryResponse> {
  let next = call;
  for (let i = interceptors.length - 1; i >= 0; i--) {
    next = interceptors[i]!(next as never) as unknown as typeof next;
  }
  return next;
}
