/**
 * The embedded PostgreSQL of `npm start` and `npm test` does not outlive its owner:
 * each case runs a real owner process (Node) that starts a real server.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { listening, until } from "../src/testing/index.js";

const test = suite("embedded PostgreSQL");

/**
 * A Node process that starts a server on `dataDir` and prints its port; with `stop`,
 * it then stops the server itself and says so. It runs until killed.
 */
function owner(dataDir: string, options: { persistent: boolean; stop: boolean }) {
  const code = `
    import { startEmbeddedPostgres } from "@classconnect/platform";
    const pg = await startEmbeddedPostgres({ dataDir: process.env.OWNED_DATA_DIR, persistent: ${options.persistent}, fast: true });
    console.log("port " + pg.port);
    if (${options.stop}) {
      await pg.stop();
      console.log("stopped");
    }
    setInterval(() => {}, 60_000);
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    // In the environment, not the command line: only the server and its watchdog name it there.
    env: { ...process.env, OWNED_DATA_DIR: dataDir },
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, which the server joins: a case can kill both at once.
    detached: true,
  });
  const output: string[] = [];
  const port = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on("line", (line) => output.push(line));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      output.push(line);
      const match = /^port (\d+)$/.exec(line);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`owner exited with ${code}: ${output.join("\n")}`)));
  });
  port.catch(() => {});
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stopped = new Promise<void>((resolve) =>
    child.stdout!.on("data", (d) => /stopped/.test(d) && resolve()),
  );
  return { child, port, exited, stopped };
}

/** The command lines of the running processes that name `text` (Linux: /proc). */
function processesNaming(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (command.includes(text)) found.push(`${pid}: ${command}`);
    } catch {} // gone meanwhile
  }
  return found;
}

/**
 * Once its owner is gone: the server's port closes, `gone` (its pid file, or its whole
 * throwaway data directory) goes, and no process names `dataDir` any more (the watchdog ended).
 */
async function assertLeftNothing(port: number, gone: string, dataDir: string): Promise<void> {
  await until(async () => !(await listening(port)) && !existsSync(gone), 30_000);
  assert.not.ok(await listening(port), `port ${port} still listening`);
  assert.not.ok(existsSync(gone), `${gone} left behind`);
  await until(() => processesNaming(dataDir).length === 0, 5_000);
  assert.equal(processesNaming(dataDir), [], "a process still names the data directory");
}

/** For `finally`: nothing a failed case started is left running. */
function cleanUp(run: { child: ChildProcess }, dataDir: string): void {
  run.child.kill("SIGKILL");
  for (const line of processesNaming(dataDir)) {
    try {
      process.kill(Number(line.split(":")[0]), "SIGKILL");
    } catch {}
  }
  rmSync(dataDir, { recursive: true, force: true });
}

for (const [how, kill] of [
  ["outright", (child: ChildProcess) => child.kill("SIGKILL")],
  // As a CI runner's timeout does: the server, in its owner's group, dies at the same moment.
  ["with its process group, server and all", (child: ChildProcess) => process.kill(-child.pid!, "SIGKILL")],
] as const) {
  test(`an owner killed ${how}: its throwaway server is stopped and its data directory goes`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "classconnect-orphan-"));
    const run = owner(dataDir, { persistent: false, stop: false });
    try {
      const port = await run.port;
      assert.ok(await listening(port), "the server answers while its owner runs");
      kill(run.child);
      await run.exited;
      await assertLeftNothing(port, dataDir, dataDir);
    } finally {
      cleanUp(run, dataDir);
    }
  });
}

for (const stop of [false, true]) {
  const how = stop ? "that stops its server itself" : "killed outright";
  test(`an owner ${how}: the server and its watchdog end, a kept data directory stays`, async () => {
    const parent = mkdtempSync(join(tmpdir(), "classconnect-orphan-"));
    const dataDir = join(parent, "pg");
    const run = owner(dataDir, { persistent: true, stop });
    try {
      const port = await run.port;
      if (stop) await run.stopped;
      else run.child.kill("SIGKILL");
      await assertLeftNothing(port, join(dataDir, "postmaster.pid"), dataDir);
      assert.ok(existsSync(join(dataDir, "PG_VERSION")), "the kept data directory was removed");
    } finally {
      cleanUp(run, parent);
    }
  });
}

test.run();
