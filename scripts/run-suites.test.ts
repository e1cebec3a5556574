/**
 * scripts/run-suites.ts fails a run in which no test finishes for too long, and
 * names the file it stopped in, instead of holding CI until its 45-minute limit.
 * Runs the runner in a child process on a directory of its own, with the limit
 * shortened to 2 s.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const test = suite("test runner (run-suites)");

/** Runs scripts/run-suites.ts in `dir` (its own `test/` files only) with a 2 s stall limit. */
async function runIn(dir: string) {
  const started = performance.now();
  const result = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", resolve("scripts/run-suites.ts")],
    { cwd: dir, env: { ...process.env, NO_COLOR: "1", RUN_SUITES_STALL_MS: "2000" }, timeout: 60_000 },
  ).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({
      code: err.code,
      stdout: err.stdout,
      stderr: err.stderr,
    }),
  );
  return { ...result, seconds: (performance.now() - started) / 1000 };
}

test("a test that never finishes fails the run within the stall limit, naming its file; steady progress does not", async () => {
  // Inside the repository (.tmp/ is ignored), so the suites' imports resolve from its node_modules.
  await mkdir(join(process.cwd(), ".tmp"), { recursive: true });
  const dir = await mkdtemp(join(process.cwd(), ".tmp", "run-suites-"));
  try {
    await mkdir(join(dir, "test"));
    // Each test takes 0.8 s: three of them outlast the 2 s limit together, not one by one.
    await writeFile(
      join(dir, "test", "a-steady.test.ts"),
      `import { setTimeout as sleep } from "node:timers/promises";
import { suite } from "uvu";
const steady = suite("steady");
for (const n of [1, 2, 3]) steady(\`test \${n}\`, () => sleep(800));
steady.run();
`,
    );
    await writeFile(
      join(dir, "test", "b-hangs.test.ts"),
      `import { suite } from "uvu";
const hangs = suite("hangs");
hangs("passes", () => {});
// Waits on a timer-kept promise that nothing settles (as a test waiting on a lost event would).
hangs("never finishes", () => new Promise(() => setInterval(() => {}, 1000)));
hangs.run();
`,
    );
    const hung = await runIn(dir);
    assert.is(hung.code, 1, hung.stderr);
    assert.match(hung.stderr, "no test finished in 2 s; the run stopped in test/b-hangs.test.ts");
    assert.match(hung.stdout, "(3 / 3)");
    assert.ok(hung.seconds < 30, `took ${hung.seconds} s`);

    await rm(join(dir, "test", "b-hangs.test.ts"));
    const steady = await runIn(dir);
    assert.is(steady.code, 0, steady.stderr);
    assert.match(steady.stdout, "(3 / 3)");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
