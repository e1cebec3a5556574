/**
 * `npm run bench:start`: time from `npm start` to a healthy gateway (first
 * start with an empty data directory, then a second, warm start), and the idle
 * memory (RSS) of every process.
 */
import { execSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { table } from "./load.js";
import { startPlatform } from "./start-platform.js";

const dataDir = mkdtempSync(join(tmpdir(), "classconnect-bench-start-"));
const rows: (string | number)[][] = [];
try {
  const cold = await startPlatform({ CLASSCONNECT_DATA_DIR: dataDir });
  rows.push(["first start (initdb, migrations)", (cold.startedInMs / 1000).toFixed(2)]);
  await new Promise((r) => setTimeout(r, 3000));
  const ps = execSync(`ps -o rss=,args= --ppid ${cold.child.pid}`).toString().trim().split("\n");
  const rss = ps.flatMap((line) => {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!m) return [];
    const name =
      /(services\/(\w+)|gateway)\/src\/main\.ts/.exec(m[2]!)?.[0] ??
      (m[2]!.includes("postgres") ? "postgres (embedded)" : undefined);
    return name ? [[name.replace("/src/main.ts", ""), (Number(m[1]) / 1024).toFixed(0)]] : [];
  });
  await cold.stop();
  const warm = await startPlatform({ CLASSCONNECT_DATA_DIR: dataDir });
  rows.push(["second start (data kept)", (warm.startedInMs / 1000).toFixed(2)]);
  await warm.stop();
  console.log("\nbench:start — npm start until the gateway is healthy");
  console.log(table(["start", "seconds"], rows));
  console.log("\nidle RSS per process (MiB), 3 s after start");
  console.log(table(["process", "MiB"], rss));
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
