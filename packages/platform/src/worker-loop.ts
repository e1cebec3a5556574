import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "./logger.js";

/**
 * Runs `pass` over and over: at once while it finds work, otherwise every
 * `pollMs` or as soon as `wake()` is called. `stop()` aborts the signal the
 * pass was given (a long poll ends early) and lets the pass finish. Used by
 * the outbox relays, the notifications dispatcher and the revoked-session poll.
 */
export function startWorkerLoop(options: {
  name: string;
  pollMs: number;
  logger: Logger;
  pass: (signal: AbortSignal) => Promise<boolean>;
}) {
  let stopped = false;
  const stopping = new AbortController();
  let wakeUp: (() => void) | undefined;
  const loop = (async () => {
    while (!stopped) {
      let worked = false;
      try {
        worked = await options.pass(stopping.signal);
      } catch (err) {
        options.logger.warn({ err, worker: options.name }, "worker pass failed");
      }
      if (!worked && !stopped) {
        const abort = new AbortController();
        wakeUp = () => abort.abort();
        await sleep(options.pollMs, undefined, { signal: abort.signal }).catch(() => {});
        wakeUp = undefined;
      }
    }
  })();
  return {
    wake: () => wakeUp?.(),
    async stop() {
      stopped = true;
      stopping.abort();
      wakeUp?.();
      await loop;
    },
  };
}
