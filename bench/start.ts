/**
 * `npm run bench:start`: time from `npm start` to a healthy gateway (first
 * start with an empty data directory, then a second, warm start), the idle
 * memory (RSS) of every process, and what the idle platform spends: CPU per
 * process and PostgreSQL transactions per second over IDLE_SECONDS, after
 * SETTLE_SECONDS for start-up work (V8 compiling and collecting) to end.
 */
import { execSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPool, freePort } from "@classconnect/platform";
import { cpuSampler, MACHINE } from "./cpu.js";
import { machine, table } from "./load.js";
import { startPlatform } from "./start-platform.js";

const SETTLE_SECONDS = Number(process.env["BENCH_SETTLE_SECONDS"] ?? 20);
const IDLE_SECONDS = Number(process.env["BENCH_IDLE_SECONDS"] ?? 30);
const dataDir = mkdtempSync(join(tmpdir(), "classconnect-bench-start-"));
const rows: (string | number)[][] = [];
const idleRows: (string | number)[][] = [];
try {
  const cold = await startPlatform({ CLASSCONNECT_DATA_DIR: dataDir });
  rows.push(["first start (initdb, migrations)", (cold.startedInMs / 1000).toFixed(2)]);
  await new Promise((r) => setTimeout(r, 3000));
  const ps = execSync(`ps -o rss=,args= --ppid ${cold.child.pid}`).toString().trim().split("\n");
  const rss = ps.flatMap((line) => {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!m) return [];
    const name =
      /(services\/\w+|gateway)\/dist\/main\.mjs/.exec(m[2]!)?.[1] ??
      (m[2]!.includes("postgres") ? "postgres (embedded)" : undefined);
    return name ? [[name, (Number(m[1]) / 1024).toFixed(0)]] : [];
  });
  await cold.stop();
  const pgPort = await freePort();
  const warm = await startPlatform({ CLASSCONNECT_DATA_DIR: dataDir, PG_PORT: String(pgPort) });
  rows.push(["second start (data kept)", (warm.startedInMs / 1000).toFixed(2)]);
  const cpu = cpuSampler(
    { "npm start": warm.child.pid! },
    {
      postgres: /(^|\/)postgres:? /,
      gateway: /gateway\/dist\/main/,
      users: /services\/users\//,
      courses: /services\/courses\//,
      notifications: /services\/notifications\//,
      admin: /services\/admin\//,
    },
  );
  await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000));
  const stats = createPool(`postgres://postgres:postgres@127.0.0.1:${pgPort}/postgres`, { max: 1 });
  const transactions = async () =>
    Number((await stats`select sum(xact_commit)::bigint as n from pg_stat_database`)[0]!["n"]);
  const before = { cpu: cpu?.(), transactions: await transactions() };
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const after = { cpu: cpu?.(), transactions: await transactions() };
  await stats.end();
  await warm.stop();
  if (before.cpu && after.cpu) {
    for (const [name, seconds] of after.cpu) {
      if (name === MACHINE) continue;
      const spent = seconds - (before.cpu.get(name) ?? 0);
      idleRows.push([name, ((spent * 1000) / IDLE_SECONDS).toFixed(1)]);
    }
  }
  // Less one: the read of the counter itself.
  idleRows.push([
    "postgres transactions/s",
    ((after.transactions - before.transactions - 1) / IDLE_SECONDS).toFixed(2),
  ]);
  console.log("\nbench:start — npm start until the gateway is healthy");
  console.log(machine());
  console.log(table(["start", "seconds"], rows));
  console.log("\nidle RSS per process (MiB), 3 s after start");
  console.log(table(["process", "MiB"], rss));
  console.log(
    `\nidle platform, ${IDLE_SECONDS} s after ${SETTLE_SECONDS} s to settle: CPU per process (ms per s; /proc, 10 ms ticks), PostgreSQL transactions`,
  );
  console.log(table(["process", "per s"], idleRows));
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
