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

/**
 * A message still in the encoding its caller sent it in. The gateway forwards a Connect
 * call's message so, and gets the answer back so: the service reads and writes the
 * caller's encoding itself (gRPC's `+json` or `+proto` codec), and the edge, which never
 * looks inside a message, neither decodes nor encodes one (bench/README.md).
 */
export class EncodedMessage {
  constructor(
    readonly encoding: "proto" | "json",
    readonly bytes: Uint8Array,
  ) {}
}

/**
 * How every ClassConnect server reads a request's JSON: a key the message does not have is
 * refused (INVALID_ARGUMENT naming it), as the protobuf JSON mapping specifies, instead of
 * connect-es's default of dropping it. A misspelt field (`choiceIds` for `option_ids`)
 * would otherwise be read as an empty one: a student's answer lost, a change not made,
 * and the caller told it worked. Answers are read leniently (servers may add fields).
 */
export const requestJsonOptions = { ignoreUnknownFields: false } as const;

/** What a service answers to a binary request it cannot decode (the gateway's edge says the same). */
export const unparsableBinaryMessage = "the request body is not a valid binary message";

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

/** Headers' methods as methods: the typings declare them as properties, which a subclass cannot override. */
interface HeadersMethods {
  get(name: string): string | null;
  has(name: string): boolean;
  append(name: string, value: string): void;
  set(name: string, value: string): void;
  delete(name: string): void;
  getSetCookie(): string[];
  forEach(fn: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void;
  entries(): IterableIterator<[string, string]>;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
}

const inspectCustom = Symbol.for("nodejs.util.inspect.custom");

const headerValue = (value: string | string[] | number | undefined): string | null =>
  value === undefined ? null : Array.isArray(value) ? value.join(", ") : String(value);

/**
 * Node's parsed headers seen as fetch Headers, without pseudo-headers (":path", ":status", …).
 * `get` and `has` read Node's object; the Headers fill themselves only when something
 * iterates or changes them. A call's headers are mostly only asked for one or two names
 * (the token, a deadline), and filling them costs about 2 µs per call, validation included,
 * of values node:http and node:http2 have already parsed and checked. One difference from a
 * filled Headers: a name that is not a valid header name reads as absent instead of throwing.
 */
class IncomingHeaders extends (Headers as unknown as new () => HeadersMethods) {
  #raw: IncomingHttpHeaders | undefined;

  constructor(raw: IncomingHttpHeaders) {
    super();
    this.#raw = raw;
  }

  #fill(): void {
    const raw = this.#raw;
    if (raw === undefined) return;
    this.#raw = undefined;
    // Names arrive unique (Node gathers repeats into an array), so append, cheaper than set, is enough.
    for (const key in raw) {
      const value = headerValue(raw[key]);
      if (value !== null && !key.startsWith(":")) super.append(key, value);
    }
  }

  override get(name: string): string | null {
    const raw = this.#raw;
    if (raw === undefined || name.startsWith(":")) return super.get(name);
    return headerValue(raw[name.toLowerCase()]);
  }
  override has(name: string): boolean {
    return this.get(name) !== null;
  }
  override append(name: string, value: string): void {
    this.#fill();
    super.append(name, value);
  }
  override set(name: string, value: string): void {
    this.#fill();
    super.set(name, value);
  }
  override delete(name: string): void {
    this.#fill();
    super.delete(name);
  }
  override getSetCookie(): string[] {
    this.#fill();
    return super.getSetCookie();
  }
  override forEach(fn: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    this.#fill();
    super.forEach(fn, thisArg);
  }
  override entries(): IterableIterator<[string, string]> {
    this.#fill();
    return super.entries();
  }
  override keys(): IterableIterator<string> {
    this.#fill();
    return super.keys();
  }
  override values(): IterableIterator<string> {
    this.#fill();
    return super.values();
  }
  override [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
  /** As util.inspect shows filled Headers (logs). */
  [inspectCustom](...args: unknown[]): unknown {
    this.#fill();
    const base = Headers.prototype as unknown as Record<symbol, (...a: unknown[]) => unknown>;
    return base[inspectCustom]!.apply(this, args);
  }
}

/** Node's incoming headers (node:http or node:http2) as fetch Headers, without pseudo-headers. */
export function headersFrom(h: IncomingHttpHeaders | undefined): Headers {
  return h ? (new IncomingHeaders(h) as unknown as Headers) : new Headers();
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
