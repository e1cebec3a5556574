/**
 * A HandlerContext for the lean unary path (grpc-unary.ts) with connect's
 * semantics (the signal aborts on the caller's cancellation, at the deadline
 * with DEADLINE_EXCEEDED, and when the call completes) at a fraction of
 * `createHandlerContext`'s cost: no AbortController until someone reads the
 * signal (most handlers never do; creating and aborting one costs more than
 * many a handler), instead of three linked ones per call, and a deadline timer
 * only for a signal someone reads: a signal read after the deadline starts aborted.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextKey,
  type HandlerContext,
} from "@connectrpc/connect";

export interface CallContext extends HandlerContext {
  /** Aborts the signal (the call was cancelled or is complete) and stops the deadline timer. */
  abort(reason: unknown): void;
}

const timedOut = () => new ConnectError("the operation timed out", Code.DeadlineExceeded);

export function createCallContext(init: {
  service: DescService;
  method: DescMethod;
  protocolName: string;
  url: string;
  timeoutMs: number | undefined;
  requestHeader: Headers;
  contextValues: ContextValues;
}): CallContext {
  return new LeanCallContext(init);
}

/**
 * A class, not an object literal: a literal with a `signal` getter made a new
 * closure per call that V8 keeps in the object's shape, and everything the
 * closure reached then outlived the young-generation collections
 * (bench/README.md, Garbage).
 */
class LeanCallContext implements CallContext {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly requestMethod = "POST";
  readonly protocolName: string;
  readonly url: string;
  readonly requestHeader: Headers;
  readonly responseHeader = new Headers();
  readonly responseTrailer = new Headers();
  readonly values: ContextValues;
  private readonly cancel = new LazyAbort();
  private timer: NodeJS.Timeout | undefined;
  private readonly deadline: number | undefined;

  constructor(init: Parameters<typeof createCallContext>[0]) {
    this.service = init.service;
    this.method = init.method;
    this.protocolName = init.protocolName;
    this.url = init.url;
    this.requestHeader = init.requestHeader;
    this.values = init.contextValues;
    if (init.timeoutMs !== undefined) this.deadline = Date.now() + init.timeoutMs;
  }

  get signal(): AbortSignal {
    if (!this.cancel.signalMade && !this.cancel.aborted) {
      if (this.expired()) this.cancel.abort(timedOut());
      else if (this.deadline !== undefined) {
        this.timer = setTimeout(() => this.abort(timedOut()), this.deadline - Date.now());
      }
    }
    return this.cancel.signal;
  }

  timeoutMs(): number | undefined {
    return this.deadline === undefined ? undefined : this.deadline - Date.now();
  }

  /** The first reason wins (a passed deadline first); a signal made later starts out aborted with it. */
  abort(reason: unknown): void {
    clearTimeout(this.timer);
    if (!this.cancel.aborted) this.cancel.abort(this.expired() ? timedOut() : reason);
  }

  private expired(): boolean {
    return this.deadline !== undefined && Date.now() >= this.deadline;
  }
}

/**
 * An AbortController made only when someone reads its signal. Making one costs about 2 µs
 * warm (Node builds each AbortSignal as an EventTarget and then changes its prototype): the
 * gateway spent 3–10 % less CPU per forwarded call without one (bench/README.md). Code of
 * ours listens with `onAbort`, which needs no signal; a signal made late starts out aborted.
 */
export class LazyAbort {
  private controller: AbortController | undefined;
  private state: { reason: unknown } | undefined;
  private listeners: ((reason: unknown) => void)[] | undefined;

  get aborted(): boolean {
    return this.state !== undefined;
  }
  get reason(): unknown {
    return this.state?.reason;
  }
  /** Whether someone has read the signal. */
  get signalMade(): boolean {
    return this.controller !== undefined;
  }
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.state) this.controller.abort(this.state.reason);
    }
    return this.controller.signal;
  }

  /** The first reason wins: later calls change nothing. */
  abort(reason: unknown): void {
    if (this.state) return;
    this.state = { reason };
    const listeners = this.listeners;
    this.listeners = undefined;
    this.controller?.abort(reason);
    if (listeners) for (const listener of listeners) listener(reason);
  }

  /** Calls `listener` with the reason when this aborts (check `aborted` first); returns what stops it. */
  onAbort(listener: (reason: unknown) => void): () => void {
    if (!this.state) {
      this.listeners ??= [];
      this.listeners.push(listener);
    }
    return () => {
      const i = this.listeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.listeners!.splice(i, 1);
    };
  }
}

/**
 * A call's cancellation for the lean gRPC client, in place of an AbortSignal: a call
 * made without a signal whose context values hold one is cancelled when it aborts.
 */
export const callAbortKey = createContextKey<LazyAbort | undefined>(undefined, {
  description: "the call's cancellation",
});

const lazySignal: PropertyDescriptor = {
  enumerable: true,
  get(this: { contextValues: ContextValues }) {
    return this.contextValues.get(callAbortKey)!.signal;
  },
};

/** Gives a request whose context values hold a LazyAbort a `signal` made from it only if read. */
export function withLazySignal<T extends { contextValues: ContextValues }>(
  request: T,
): T & { signal: AbortSignal } {
  return Object.defineProperty(request, "signal", lazySignal) as T & { signal: AbortSignal };
}
