/**
 * Waiting for a change another transaction commits, in any replica: PostgreSQL
 * `NOTIFY` on a channel (sent by a trigger, so on commit only) wakes whoever
 * waits in this process, through one `LISTEN` connection. Long polls use it to
 * answer as soon as there is something new instead of on a timer.
 *
 * A waiter subscribes before it reads (`next()` first, then the query), so a
 * change committed between the read and the wait is not missed. When the
 * listening connection is re-established (the database restarted), every
 * waiter is woken too: notifications sent meanwhile are lost, a re-read is not.
 */
import type { Sql } from "./db.js";
import type { Logger } from "./logger.js";

export interface ChangeWait {
  /** Resolves on the next change, after `timeoutMs`, when `signal` aborts, or on release. */
  changed: Promise<void>;
  /** Stop waiting (the caller answered without waiting): frees the timer. */
  cancel(): void;
}

export interface ChangeSignal {
  /** Subscribes now; see ChangeWait. */
  next(timeoutMs: number, signal?: AbortSignal): ChangeWait;
  /** Wakes every waiter and answers later ones at once: the server is draining. */
  release(): void;
  close(): Promise<void>;
}

/** `onChange` is called too, on each change (and reconnection), for a loop that wakes itself. */
export function listenForChanges(
  sql: Sql,
  channel: string,
  logger: Logger,
  onChange?: () => void,
): ChangeSignal {
  const waiters = new Set<() => void>();
  let released = false;
  const wakeWaiters = () => {
    for (const wake of [...waiters]) wake();
  };
  const changed = () => {
    wakeWaiters();
    onChange?.();
  };
  const listening = sql.listen(channel, changed, changed).catch((err: unknown) => {
    // Waiters then wake on their timeouts: slower, never wrong.
    logger.warn({ err, channel }, "cannot listen for changes; long polls answer on their timeouts");
    return undefined;
  });
  return {
    next(timeoutMs, signal) {
      let wake: () => void = () => {};
      const changed = new Promise<void>((resolve) => {
        if (released || signal?.aborted) return resolve();
        const timer = setTimeout(() => wake(), timeoutMs);
        const onAbort = () => wake();
        signal?.addEventListener("abort", onAbort, { once: true });
        wake = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          waiters.delete(wake);
          resolve();
        };
        waiters.add(wake);
      });
      return { changed, cancel: () => wake() };
    },
    release() {
      released = true;
      wakeWaiters();
    },
    async close() {
      released = true;
      wakeWaiters();
      await (await listening)?.unlisten().catch(() => {});
    },
  };
}
