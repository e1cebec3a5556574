/**
 * A HandlerContext for the lean unary path (grpc-unary.ts) with connect's
 * semantics (the signal aborts on the caller's cancellation, at the deadline
 * with DEADLINE_EXCEEDED, and when the call completes) at a fraction of
 * `createHandlerContext`'s cost: no AbortController until someone reads the
 * signal (most handlers never do; creating and aborting one costs more than
 * many a handler), instead of three linked ones per call, and a timer only
 * when the caller set a deadline.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext } from "@connectrpc/connect";

export interface CallContext extends HandlerContext {
  /** Aborts the signal (the call was cancelled or is complete) and stops the deadline timer. */
  abort(reason: unknown): void;
}

export function createCallContext(init: {
  service: DescService;
  method: DescMethod;
  protocolName: string;
  url: string;
  timeoutMs: number | undefined;
  requestHeader: Headers;
  contextValues: ContextValues;
}): CallContext {
  let controller: AbortController | undefined;
  let aborted: { reason: unknown } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let deadline: number | undefined;
  /** The first reason wins; a signal made later starts out aborted with it. */
  const abort = (reason: unknown) => {
    clearTimeout(timer);
    if (aborted) return;
    aborted = { reason };
    controller?.abort(reason);
  };
  if (init.timeoutMs !== undefined) {
    deadline = Date.now() + init.timeoutMs;
    const expire = () => abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
    if (init.timeoutMs <= 0) expire();
    else timer = setTimeout(expire, init.timeoutMs);
  }
  return {
    service: init.service,
    method: init.method,
    requestMethod: "POST",
    protocolName: init.protocolName,
    url: init.url,
    get signal() {
      if (!controller) {
        controller = new AbortController();
        if (aborted) controller.abort(aborted.reason);
      }
      return controller.signal;
    },
    timeoutMs: () => (deadline === undefined ? undefined : deadline - Date.now()),
    requestHeader: init.requestHeader,
    responseHeader: new Headers(),
    responseTrailer: new Headers(),
    values: init.contextValues,
    abort,
  };
}
