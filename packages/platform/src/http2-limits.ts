/**
 * node:http2 has none of node:http's limits on slow or idle clients. These are the same
 * two, for the gateway and every service: a session with no open stream is closed
 * (GOAWAY) after the idle timeout, which also cuts off a connection that never sends
 * anything; and a stream whose request has not fully arrived within the request
 * timeout is answered and closed, while the session goes on serving its other streams.
 */
import * as http2 from "node:http2";

export interface Http2Limits {
  /** A session with no open stream is closed after this long; 0: never. */
  idleTimeoutMs: number;
  /** Each stream's request must have fully arrived (END_STREAM) within this long. */
  requestTimeoutMs: number;
}

/** The answer to a stream whose request stalled: gRPC's status for gRPC callers, 408 for everyone else. */
function refuseStalled(stream: http2.ServerHttp2Stream, contentType: string | undefined, limitMs: number) {
  if (stream.headersSent) return;
  if (contentType?.startsWith("application/grpc")) {
    stream.respond(
      {
        ":status": 200,
        "content-type": contentType,
        "grpc-status": "4", // DEADLINE_EXCEEDED
        "grpc-message": `the request did not arrive within ${limitMs} ms`,
      },
      { endStream: true },
    );
  } else {
    stream.respond({ ":status": 408, "content-type": "text/plain" }, { endStream: true });
  }
}

/**
 * Applies `limits` to `session`. A call costs no timer of its own: the session keeps one
 * idle timer (re-armed with `refresh()` when its last stream closes) and one timer for the
 * oldest request still arriving. Every stream waits the same time, so the streams in
 * arrival order are also in deadline order.
 */
export function limitHttp2Session(session: http2.ServerHttp2Session, limits: Http2Limits): void {
  let open = 0;
  const idle =
    limits.idleTimeoutMs > 0
      ? setTimeout(() => {
          // Fired while streams were open: re-armed when the last of them closes.
          if (open === 0) session.close();
        }, limits.idleTimeoutMs)
      : undefined;
  /** Streams whose request has not fully arrived (or that are still open), by arrival: their deadlines. */
  const arriving = new Map<http2.ServerHttp2Stream, { deadline: number; contentType: string | undefined }>();
  let stalledTimer: NodeJS.Timeout | undefined;
  // Unref'd: it may outlive the streams it was armed for, and an open stream's socket keeps the process up.
  const armStalled = (ms: number) => {
    stalledTimer = setTimeout(refuseDue, ms).unref();
  };
  const refuseDue = () => {
    stalledTimer = undefined;
    const now = Date.now();
    for (const [stream, { deadline, contentType }] of arriving) {
      if (deadline > now) {
        armStalled(deadline - now);
        return;
      }
      arriving.delete(stream);
      // The whole request arrived (END_STREAM) and is being handled: not the client's delay.
      if (stream.destroyed || stream.state.remoteClose) continue;
      refuseStalled(stream, contentType, limits.requestTimeoutMs);
      stream.close(http2.constants.NGHTTP2_NO_ERROR);
    }
  };
  session.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    open++;
    if (!stream.endAfterHeaders) {
      arriving.set(stream, {
        deadline: Date.now() + limits.requestTimeoutMs,
        contentType: headers["content-type"],
      });
      if (!stalledTimer) armStalled(limits.requestTimeoutMs);
    }
    stream.once("close", () => {
      arriving.delete(stream);
      if (--open === 0 && !session.closed && !session.destroyed) idle?.refresh();
    });
  });
  session.once("close", () => {
    clearTimeout(idle);
    clearTimeout(stalledTimer);
    arriving.clear();
  });
}
