import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "./logger.js";

/**
 * Runs `pass` over and over: at once while it finds work (true), otherwise
 * after `pollMs`, or after the number of ms it returns when that is sooner (its
 * next work is due then), or as soon as `wake()` is called. `stop()` aborts the
 * signal the pass was given (a long poll ends early) and lets the pass finish.
 * Used by the outbox relays, the notifications dispatcher and the
 * revoked-session poll.
 */
export function startWorkerLoop(options: {
  name: string;
  pollMs: number;
  logger: Logger;
  pass: (signal: AbortSignal) => Promise<boolean | number>;
}) {
  let stopped = false;
  const stopping = new AbortController();
  let wakeUp: (() => void) | undefined;
  const loop = (async () => {
    while (!stopped) {
      let outcome: boolean | number = false;
      try {
        outcome = await options.pass(stopping.signal);
      } catch (err) {
        options.logger.warn({ err, worker: options.name }, "worker pass failed");
      }
      if (outcome !== true && !stopped) {
        const ms =
          typeof outcome === "number" ? Math.min(Math.max(0, outcome), options.pollMs) : options.pollMs;
        const abort = new AbortController();
        wakeUp = () => abort.abort();
        await sleep(ms, undefined, { signal: abort.signal }).catch(() => {});
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

/**
 * Runs `run` at start and then every `everyMs` (a failed run is logged and tried again at
 * the next); `stop()` waits for a run under way. For housekeeping such as pruning or sweeps.
 */
export function startPeriodicTask(options: {
  name: string;
  everyMs: number;
  logger: Logger;
  run: () => Promise<unknown>;
}) {
  return startWorkerLoop({
    name: options.name,
    pollMs: options.everyMs,
    logger: options.logger,
    pass: async () => {
      await options.run();
      return false;
    },
  });
}
