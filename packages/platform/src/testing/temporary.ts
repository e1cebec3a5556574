import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made = new Set<string>();
let removing = false;

/**
 * A new directory under the system's temporary directory (`classconnect-<prefix>-…`),
 * removed when this process exits: the suites run in one process, so a whole test run
 * leaves none behind, whichever way a test ends.
 */
export function temporaryDirectory(prefix: string): string {
  if (!removing) {
    removing = true;
    process.once("exit", () => {
      for (const dir of made) rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = mkdtempSync(join(tmpdir(), `classconnect-${prefix}-`));
  made.add(dir);
  return dir;
}
