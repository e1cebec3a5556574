/**
 * Test helpers. One embedded PostgreSQL serves the whole test run (started by
 * scripts/test.ts and passed in CLASSCONNECT_TEST_PG_URL); each suite gets a
 * fresh database on it. A test file run on its own starts its own server.
 */
import { randomBytes } from "node:crypto";
import { databaseUrl, ensureDatabase } from "../db.js";
import { startEmbeddedPostgres } from "../embedded-postgres.js";
import { createLogger, type Logger } from "../logger.js";
import { temporaryDirectory } from "./temporary.js";

export * from "./images.js";
export { type LoopbackHttpsHost, startLoopbackHttpsHost } from "./loopback-https.js";
export { type LoopbackS3, startLoopbackS3 } from "./loopback-s3.js";
export { refusingInserts } from "./refusing-inserts.js";
export { temporaryDirectory } from "./temporary.js";
export { listening, until } from "./wait.js";

export const TEST_PG_ENV = "CLASSCONNECT_TEST_PG_URL";

let serverUrl: Promise<string> | undefined;

async function testServerUrl(): Promise<string> {
  const fromRunner = process.env[TEST_PG_ENV];
  if (fromRunner) return fromRunner;
  serverUrl ??= (async () => {
    const dataDir = temporaryDirectory("pg");
    const pg = await startEmbeddedPostgres({ dataDir, persistent: false, fast: true });
    process.once("beforeExit", () => void pg.stop());
    for (const [signal, code] of [
      ["SIGINT", 130],
      ["SIGTERM", 143],
    ] as const) {
      process.once(signal, () => void pg.stop().finally(() => process.exit(code)));
    }
    process.env[TEST_PG_ENV] = pg.url;
    return pg.url;
  })();
  return serverUrl;
}

/** A new, empty database for one suite (on `serverUrl`, default the shared test server); returns its URL. */
export async function createTestDatabase(prefix: string, serverUrl?: string): Promise<string> {
  const admin = serverUrl ?? (await testServerUrl());
  const name = `t_${prefix.replace(/\W/g, "_").toLowerCase()}_${randomBytes(4).toString("hex")}`;
  await ensureDatabase(admin, name);
  return databaseUrl(admin, name);
}

/** A logger for tests: silent unless TEST_LOG_LEVEL is set. */
export function testLogger(name: string): Logger {
  const level = process.env["TEST_LOG_LEVEL"];
  const logger = createLogger(name, (level as "debug") ?? "error");
  if (!level) logger.level = "silent";
  return logger;
}

export const TEST_SERVICE_TOKEN = "test-service-token-0123456789abcdef";

export {
  CallFailed,
  connectErrorOf,
  errorMetadata,
  errorReason,
  invalid,
  rejects,
  reporting,
  violatedFields,
} from "./expect.js";
