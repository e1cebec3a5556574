/**
 * `npm start` as a user runs it: separate processes, embedded PostgreSQL,
 * the gateway on a real port. Checks the acceptance path (health, Register →
 * Login → GetMe over Connect JSON) and a clean stop on SIGTERM.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { freePort } from "@classconnect/platform";
import { listening, until } from "@classconnect/platform/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const test = suite("npm start");

const PROCESSES = ["gateway", "users", "courses", "notifications", "admin"];
const PORT_VARIABLES = ["USERS_PORT", "COURSES_PORT", "NOTIFICATIONS_PORT", "ADMIN_PORT", "GATEWAY_PORT"];

/** The environment of `npm start` on its own data directory, every port picked free. */
function startEnv(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CLASSCONNECT_DATA_DIR: dataDir, LOG_LEVEL: "warn" };
  for (const name of PORT_VARIABLES) env[name] = "0";
  delete env["DATABASE_URL"];
  return env;
}

/** Runs scripts/start.ts as `npm start` does, collecting its output lines. */
function runStart(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  /** The gateway's URL, once every process is healthy. */
  const running = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not up in 90 s:\n${output.join("\n")}`)), 90_000);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => {
        output.push(line);
        const match = /ClassConnect is running: (\S+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    }
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`start exited with ${code}:\n${output.join("\n")}`));
    });
  });
  running.catch(() => {});
  /** The exit code, or "timeout" when it has not exited within `ms`. */
  const exitCode = (ms: number) =>
    Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), ms))]);
  /** For `finally`: stops it as Ctrl-C would if it still runs (a failed test leaves nothing behind). */
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    if ((await exitCode(30_000)) === "timeout") child.kill("SIGKILL");
  };
  return { child, output, running, exitCode, stop };
}

/** Every process drained and closed its resources itself (exit 0): none was killed. */
function assertStoppedCleanly(output: string[]) {
  for (const name of PROCESSES) {
    assert.ok(
      output.includes(`[start] ${name} stopped (exit 0)`),
      `${name} stopped cleanly:\n${output.filter((l) => l.startsWith("[start]")).join("\n")}`,
    );
  }
}

test("starts every process, serves the API through the gateway, and stops cleanly", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "classconnect-start-"));
  const env = startEnv(dataDir);
  const { child, output, running, exitCode, stop } = runStart(env);
  let second: ReturnType<typeof runStart> | undefined;
  try {
    const url = await running;
    const post = async (path: string, body: unknown, token?: string) => {
      const res = await fetch(`${url}/${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, Record<string, string>> };
    };
    assert.equal((await post("grpc.health.v1.Health/Check", {})).body, { status: "SERVING" });
    const account = {
      email: "start@example.com",
      password: "password-start",
      firstName: "S",
      lastName: "T",
      location: "L",
      acceptTerms: true,
    };
    assert.is((await post("classconnect.users.v1.AuthService/Register", account)).status, 200);
    const login = await post("classconnect.users.v1.AuthService/Login", {
      email: account.email,
      password: account.password,
    });
    assert.is(login.status, 200);
    const me = await post(
      "classconnect.users.v1.UserService/GetMe",
      {},
      login.body["session"]!["accessToken"],
    );
    assert.is(me.body["user"]!["email"], account.email);
    // The activation PIN travels users → outbox → notifications → the local mailbox.
    const deadline = Date.now() + 15_000;
    let pinMail: { to: string; text: string } | undefined;
    while (!pinMail && Date.now() < deadline) {
      const dir = join(dataDir, "mail");
      // A message being written is a hidden temporary file until it is whole.
      const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json")) : [];
      pinMail = files
        .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as { to: string; text: string })
        .find((m) => m.to === account.email && /PIN is \d{6}/.test(m.text));
      if (!pinMail) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(pinMail, "the PIN e-mail reached the local mailbox");

    // npm start prints the first administrator's credentials; they sign in.
    const admin = /First administrator: (\S+) \/ (\S+)/.exec(output.join("\n"));
    assert.ok(admin, "credentials printed");
    const adminLogin = await post("classconnect.admin.v1.AdminAuthService/Login", {
      email: admin![1],
      password: admin![2],
    });
    assert.is(adminLogin.status, 200);
    assert.ok(adminLogin.body["accessToken"]);

    // A second npm start on the same data directory is refused with PostgreSQL's own reason,
    // and the first goes on serving.
    second = runStart(env);
    const said = () => second!.output.join("\n");
    assert.is(await second.exitCode(60_000), 1, said());
    assert.match(
      said(),
      /failed: PostgreSQL did not start: FATAL: lock file "postmaster\.pid" already exists/,
    );
    assert.match(said(), /Another `npm start` may be running with this data directory/);
    assert.not.match(said(), /TypeError/);
    assert.equal((await post("grpc.health.v1.Health/Check", {})).body, { status: "SERVING" });

    child.kill("SIGTERM");
    assert.is(await exitCode(30_000), 0, output.slice(-20).join("\n"));
    assert.not.ok(existsSync(join(dataDir, "pg", "postmaster.pid")), "PostgreSQL stopped");
    assert.ok(output.some((l) => l.includes("[start] stopped")));
    // No drain had to be cut short (long-lived calls such as revocation watches end first).
    assert.not.ok(
      output.some((l) => l.includes("drain timed out")),
      output.filter((l) => l.includes("drain")).join("\n"),
    );
    assertStoppedCleanly(output);
  } finally {
    await second?.stop();
    await stop();
    // A file the stopped processes' last writes leave may land mid-removal (ENOTEMPTY once in
    // a fresh-clone run): retry rather than fail a test whose assertions all held.
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
});

test("refuses to start, before starting anything, when a port is taken", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "classconnect-start-"));
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const port = (taken.address() as AddressInfo).port;
  const { output, exitCode, stop } = runStart({ ...startEnv(dataDir), GATEWAY_PORT: String(port) });
  try {
    assert.is(await exitCode(60_000), 1, output.join("\n"));
    assert.ok(
      output.includes(
        `[start] failed: port ${port} (GATEWAY_PORT, the gateway) is in use: is ClassConnect already running? ` +
          "Stop it, or set GATEWAY_PORT to another port (0 picks a free one).",
      ),
      output.join("\n"),
    );
    assert.not.ok(existsSync(join(dataDir, "pg")), "PostgreSQL was not started");
  } finally {
    await stop();
    taken.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a hang-up (the terminal closed) stops every process and PostgreSQL, as Ctrl-C does", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "classconnect-start-"));
  const run = runStart(startEnv(dataDir));
  try {
    await run.running;
    run.child.kill("SIGHUP");
    assert.is(await run.exitCode(30_000), 0, run.output.slice(-20).join("\n"));
    assertStoppedCleanly(run.output);
    assert.not.ok(existsSync(join(dataDir, "pg", "postmaster.pid")), "PostgreSQL stopped");
  } finally {
    await run.stop();
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
});

test("killed outright, npm start's processes and PostgreSQL stop themselves; the next start runs", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "classconnect-start-"));
  const ports: Record<string, string> = { PG_PORT: String(await freePort()) };
  for (const name of PORT_VARIABLES) {
    ports[name] = String(await freePort());
  }
  const env = { ...startEnv(dataDir), ...ports };
  const run = runStart(env);
  const pidFile = join(dataDir, "pg", "postmaster.pid");
  let pgPid: number | undefined;
  let next: ReturnType<typeof runStart> | undefined;
  try {
    await run.running;
    pgPid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
    run.child.kill("SIGKILL");
    assert.not.equal(await run.exitCode(10_000), "timeout");
    // Each process sees its IPC channel to npm start close, stops and lets its port go;
    // PostgreSQL's watchdog sees its pipe close and stops it.
    for (const [name, port] of Object.entries(ports)) {
      await until(async () => !(await listening(Number(port))), 30_000);
      assert.not.ok(await listening(Number(port)), `${name} ${port} still listening`);
    }
    await until(() => !existsSync(pidFile), 30_000);
    assert.not.ok(existsSync(pidFile), "PostgreSQL still holds the data directory");
    pgPid = undefined;
    next = runStart(env);
    const url = await next.running;
    assert.is((await fetch(`${url}/healthz`)).status, 200);
    next.child.kill("SIGINT");
    assert.is(await next.exitCode(60_000), 0, next.output.join("\n"));
    assertStoppedCleanly(next.output);
  } finally {
    await next?.stop();
    await run.stop();
    if (pgPid) {
      try {
        process.kill(pgPid, "SIGINT");
      } catch {}
      await until(() => !existsSync(pidFile), 30_000);
    }
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
});

test.run();
