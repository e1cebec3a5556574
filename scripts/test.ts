/**
 * `npm test`: every check CI runs, in order, failing fast:
 * type-check, lint, buf lint/format, generated code up to date, then all
 * test suites (unit, integration, end-to-end) against one embedded PostgreSQL.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startEmbeddedPostgres } from "@classconnect/platform";
import { TEST_PG_ENV } from "@classconnect/platform/testing";
import { checkGenerated } from "./check-generated.ts";
import { writeProtoDeps } from "./proto-deps.ts";
import { SUMMARY_ENV } from "./test-summary.ts";

const bin = (name: string) => join("node_modules", ".bin", name);

function step(title: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const started = Date.now();
  process.stdout.write(`\n▶ ${title}\n`);
  const result = spawnSync(command, args, { stdio: "inherit", env });
  if (result.status !== 0) {
    process.stdout.write(`✖ ${title} failed\n`);
    process.exit(result.status ?? 1);
  }
  process.stdout.write(`✔ ${title} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
}

writeProtoDeps();
step("type-check", bin("tsc"), ["-p", "tsconfig.json"]);
step("lint and format (biome)", bin("biome"), ["check", "--error-on-warnings", "."]);
step("buf lint", bin("buf"), ["lint"]);
step("buf format", bin("buf"), ["format", "proto", "--diff", "--exit-code"]);
process.stdout.write("\n▶ generated code up to date\n");
const stale = checkGenerated();
if (stale.length > 0) {
  process.stdout.write(
    `✖ gen/ differs from \`buf generate\`: ${stale.join(", ")}\n  run: npm run generate\n`,
  );
  process.exit(1);
}
process.stdout.write("✔ generated code up to date\n");

const dataDir = mkdtempSync(join(tmpdir(), "classconnect-test-pg-"));
const summaryFile = join(tmpdir(), `classconnect-test-summary-${process.pid}.json`);
const pg = await startEmbeddedPostgres({ dataDir, persistent: false, fast: true });
// Ctrl-C reaches the suites too; once they end, the `finally` below stops PostgreSQL.
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => (interrupted = true));
let status = 1;
try {
  const filter = process.argv.slice(2);
  const started = Date.now();
  process.stdout.write("\n▶ test suites\n");
  const result = spawnSync(process.execPath, ["--import", "tsx", "scripts/run-suites.ts", ...filter], {
    stdio: "inherit",
    env: { ...process.env, [TEST_PG_ENV]: pg.url, [SUMMARY_ENV]: summaryFile },
    timeout: 60 * 60 * 1000,
  });
  status = interrupted ? 130 : (result.status ?? 1);
  process.stdout.write(
    `${status === 0 ? "✔" : "✖"} test suites (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
  );
} finally {
  await pg.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
// The closing line CI reads: every test counted, or the run failed.
const totals = existsSync(summaryFile)
  ? (JSON.parse(readFileSync(summaryFile, "utf8")) as { total: number; passed: number })
  : undefined;
rmSync(summaryFile, { force: true });
if (!totals) {
  process.stdout.write("✖ the test suites did not finish\n");
  process.exit(status || 1);
}
if (totals.total === 0) {
  process.stdout.write("✖ no test ran\n");
  process.exit(1);
}
process.stdout.write(`tests: ${totals.passed} passed, ${totals.total - totals.passed} failed\n`);
process.exit(status);
