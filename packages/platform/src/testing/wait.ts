import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** Waits until `condition` holds or `ms` have passed, checking every `everyMs`; says whether it held. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  ms: number,
  everyMs = 100,
): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(everyMs)) {
    if (await condition()) return true;
  }
  return condition();
}

/** Whether something accepts connections on 127.0.0.1:`port`. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
