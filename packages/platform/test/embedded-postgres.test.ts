/**
 * The embedded PostgreSQL of `npm start` and `npm test` does not outlive its owner:
 * each case runs a real owner process (Node) that starts a real server.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { suite } from "uvu";
import * as assert from "uvu/assert";

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

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
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

async function until(condition: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end && !(await condition()); ) {
    await new Promise((r) => setTimeout(r, 100));
  }
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

test("an owner killed outright: its throwaway server stops and its data directory goes", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "classconnect-orphan-"));
  const run = owner(dataDir, { persistent: false, stop: false });
  try {
    const port = await run.port;
    assert.ok(await listening(port), "the server answers while its owner runs");
    run.child.kill("SIGKILL");
    await run.exited;
    await until(async () => !(await listening(port)) && !existsSync(dataDir), 30_000);
    assert.not.ok(await listening(port), `port ${port} still listening`);
    assert.not.ok(existsSync(dataDir), "data directory left behind");
    await until(() => processesNaming(dataDir).length === 0, 5_000);
    assert.equal(processesNaming(dataDir), [], "no process left");
  } finally {
    cleanUp(run, dataDir);
  }
});

test("an owner killed with its process group, server and all: the throwaway data directory goes", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "classconnect-orphan-"));
  const run = owner(dataDir, { persistent: false, stop: false });
  try {
    const port = await run.port;
    process.kill(-run.child.pid!, "SIGKILL"); // as a CI runner's timeout does
    await run.exited;
    await until(async () => !(await listening(port)) && !existsSync(dataDir), 30_000);
    assert.not.ok(await listening(port), `port ${port} still listening`);
    assert.not.ok(existsSync(dataDir), "data directory left behind");
  } finally {
    cleanUp(run, dataDir);
  }
});

test("an owner killed outright: a kept data directory stays, with the server stopped", async () => {
  const parent = mkdtempSync(join(tmpdir(), "classconnect-orphan-"));
  const dataDir = join(parent, "pg");
  const run = owner(dataDir, { persistent: true, stop: false });
  try {
    const port = await run.port;
    run.child.kill("SIGKILL");
    await run.exited;
    const pidFile = join(dataDir, "postmaster.pid");
    await until(async () => !(await listening(port)) && !existsSync(pidFile), 30_000);
    assert.not.ok(await listening(port), `port ${port} still listening`);
    assert.not.ok(existsSync(pidFile), "the server did not shut down");
    assert.ok(existsSync(join(dataDir, "PG_VERSION")), "the kept data directory was removed");
    await until(() => processesNaming(dataDir).length === 0, 5_000);
    assert.equal(processesNaming(dataDir), [], "no process left");
  } finally {
    cleanUp(run, parent);
  }
});

test("an owner that stops its server ends the server's watchdog too", async () => {
  const parent = mkdtempSync(join(tmpdir(), "classconnect-orphan-"));
  const dataDir = join(parent, "pg");
  const run = owner(dataDir, { persistent: true, stop: true });
  try {
    const port = await run.port;
    await run.stopped;
    assert.not.ok(await listening(port), `port ${port} still listening`);
    await until(() => processesNaming(dataDir).length === 0, 5_000);
    assert.equal(processesNaming(dataDir), [], "a process still names the data directory");
  } finally {
    cleanUp(run, parent);
  }
});

test.run();
