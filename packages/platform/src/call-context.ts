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
import { Code, ConnectError, type ContextValues, type HandlerContext } from "@connectrpc/connect";

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
  private controller: AbortController | undefined;
  private aborted: { reason: unknown } | undefined;
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
    if (!this.controller) {
      this.controller = new AbortController();
      if (!this.aborted && this.expired()) this.aborted = { reason: timedOut() };
      if (this.aborted) this.controller.abort(this.aborted.reason);
      else if (this.deadline !== undefined) {
        this.timer = setTimeout(() => this.abort(timedOut()), this.deadline - Date.now());
      }
    }
    return this.controller.signal;
  }

  timeoutMs(): number | undefined {
    return this.deadline === undefined ? undefined : this.deadline - Date.now();
  }

  /** The first reason wins (a passed deadline first); a signal made later starts out aborted with it. */
  abort(reason: unknown): void {
    clearTimeout(this.timer);
    if (this.aborted) return;
    this.aborted = { reason: this.expired() ? timedOut() : reason };
    this.controller?.abort(this.aborted.reason);
  }

  private expired(): boolean {
    return this.deadline !== undefined && Date.now() >= this.deadline;
  }
}
