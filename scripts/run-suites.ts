/**
 * Runs every `*.test.ts` suite (uvu) in this process, in a stable order.
 * Arguments filter the files by substring. Started by scripts/test.ts, which
 * provides the shared PostgreSQL.
 *
 * Two limits: the whole run must end within 45 minutes, and some test must finish
 * at least every 5 minutes (`RUN_SUITES_STALL_MS` to change it): a test that waits on
 * something that never comes fails the run at once, naming its file, instead of
 * holding it until the first limit.
 */
import { readdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { run } from "uvu/run";
import { SUMMARY_ENV } from "./test-summary.ts";

const roots = ["packages", "services", "gateway", "scripts", "test"];
const skip = new Set(["node_modules", ".tmp", ".data", "gen"]);

function find(dir: string, out: string[]): string[] {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    if (skip.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) find(path, out);
    else if (entry.name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = roots
  .flatMap((root) => find(root, []))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error("no test files found");
  process.exit(1);
}
const watchdog = setTimeout(
  () => {
    console.error("test run exceeded 45 minutes; aborting");
    process.exit(1);
  },
  45 * 60 * 1000,
);
watchdog.unref();
const names = files.map((file) => relative(".", file));
const stallMs = Number(process.env["RUN_SUITES_STALL_MS"] ?? 5 * 60 * 1000);
/** The file whose suites are running: uvu prints each file's name before its suites. */
let running = "";
const stall = setTimeout(() => {
  console.error(
    `\n✖ no test finished in ${Math.round(stallMs / 1000)} s; the run stopped in ${running || "its first file"}`,
  );
  process.exit(1);
}, stallMs);
stall.unref();
// Count ourselves: a run in which any test did not pass fails, even where uvu
// would not say why (a failing `before` hook or an error its reporter cannot
// format; scripts/patch-deps.ts guards both, so the reason is printed too).
const totals = { total: 0, passed: 0 };
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
  for (const m of text.matchAll(/\((\d+) \/ (\d+)\)/g)) {
    totals.passed += Number(m[1]);
    totals.total += Number(m[2]);
  }
  // uvu marks each finished test with • (passed) or ✘ (failed).
  if (text.includes("•") || text.includes("✘")) stall.refresh();
  const name = names.find((n) => text.includes(n));
  if (name) {
    running = name;
    stall.refresh();
  }
  return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;
await run(files.map((file, i) => ({ name: names[i]!, file: resolve(file) })));
clearTimeout(stall);
process.stdout.write = write;
// scripts/test.ts prints these counts as the run's closing line.
const summaryFile = process.env[SUMMARY_ENV];
if (summaryFile) writeFileSync(summaryFile, JSON.stringify(totals));
if (totals.passed !== totals.total) {
  console.error(`\n✖ ${totals.total - totals.passed} of ${totals.total} tests did not pass`);
  process.exit(1);
}
process.exit(process.exitCode ?? 0);
