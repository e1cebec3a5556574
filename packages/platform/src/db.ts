/**
 * PostgreSQL access through postgres.js: pools, ordered SQL migrations, and
 * transactions that retry serialization failures.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import postgres from "postgres";
import type { Logger } from "./logger.js";
import { traceQueries } from "./telemetry.js";

export type Sql = postgres.Sql;
/** The handle a transaction's queries run on (a connection reserved for it). */
export type TransactionSql = postgres.Sql;

export interface PoolOptions {
  /** Pool size. */
  max?: number;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
}

/**
 * Seconds a pool waits before reconnecting after `retries` failed attempts:
 * exponential from 50 ms, capped at one second, with jitter. postgres.js
 * counts failures for the whole pool and by default waits up to 20 s, so after
 * an outage of a few seconds every query queued for seconds more although the
 * database was back (measured: 2–6 s of NOT_SERVING after a 1.5–3 s restart).
 * With ten connections a pool retries at most ten times a second, which a
 * recovering server does not notice.
 */
export function reconnectDelaySeconds(retries: number): number {
  return Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2);
}

export function createPool(url: string, options: PoolOptions = {}): Sql {
  const settings: postgres.Options<Record<string, never>> & { max_pipeline: number } = {
    max: options.max ?? 10,
    // One query per connection at a time: pipelining deeper than the pool slows
    // down steadily under sustained load (see ARCHITECTURE.md, performance notes).
    max_pipeline: 1,
    idle_timeout: 60,
    connect_timeout: 10,
    backoff: reconnectDelaySeconds,
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? "classconnect" },
    transform: { undefined: null },
  };
  // Each executed query is a trace span (statement only, never parameters).
  return traceQueries(postgres(url, settings));
}

/** True when the database answers a trivial query within `timeoutMs`. */
export async function isDatabaseReady(sql: Sql, timeoutMs = 2000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    return await Promise.race([sql`select 1`.then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

const retryableStates = new Set(["40001", "40P01"]);
/** The connections `inTransaction` holds a transaction open on. */
const openTransactions = new WeakSet<object>();

/**
 * Runs `fn` in a transaction on a connection reserved for it, retrying
 * serialization failures and deadlocks a few times.
 *
 * Not `sql.begin`: postgres.js 3.4.9 can send BEGIN without reserving the
 * connection when BEGIN fills the pipeline (always, with our max_pipeline of 1),
 * which fails concurrent transactions with UNSAFE_TRANSACTION
 * (porsager/postgres#823, #1189). A reserved connection cannot be shared.
 *
 * Given a transaction `inTransaction` opened, `fn` runs in it: code that makes its own
 * transaction (a store's method) can then be part of a larger one.
 */
export async function inTransaction<T>(
  sql: Sql,
  fn: (tx: TransactionSql) => Promise<T>,
  options: { attempts?: number; isolation?: "serializable" | "repeatable read" | "read committed" } = {},
): Promise<T> {
  // Called with a transaction of its own making: `fn` joins it (the outer one retries).
  if (openTransactions.has(sql)) return fn(sql as TransactionSql);
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const tx = await sql.reserve();
    openTransactions.add(tx);
    try {
      await tx.unsafe(options.isolation ? `begin isolation level ${options.isolation}` : "begin");
      const result = await fn(tx);
      await tx.unsafe("commit");
      return result;
    } catch (err) {
      await tx.unsafe("rollback").catch(() => {});
      const code = (err as { code?: string }).code;
      if (attempt >= attempts || !code || !retryableStates.has(code)) throw err;
    } finally {
      openTransactions.delete(tx);
      tx.release();
    }
    await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
  }
}

/** A directory of `NNNN_name.sql` files; versions are recorded as `prefix + file name`. */
/**
 * Runs a `delete … limit ${batch}` until a run deletes fewer than `batch` rows, so that
 * housekeeping never holds many row locks at once. Returns how many rows went in all.
 */
export async function deleteInBatches(
  remove: (batch: number) => Promise<{ count: number }>,
  batch = 1000,
): Promise<number> {
  let total = 0;
  for (;;) {
    const { count } = await remove(batch);
    total += count;
    if (count < batch) return total;
  }
}

export interface MigrationSource {
  dir: string;
  prefix?: string;
}

/**
 * Applies the `NNNN_name.sql` files of each source, in order, each once, each
 * recorded in `schema_migrations`, all in one transaction (a failure leaves
 * nothing behind). Concurrent starters wait on an advisory lock, so several
 * replicas can start at once.
 */
export async function migrate(
  sql: Sql,
  sources: string | MigrationSource[],
  logger: Logger,
): Promise<string[]> {
  const list = typeof sources === "string" ? [{ dir: sources }] : sources;
  const files: { version: string; path: string }[] = [];
  for (const source of list) {
    for (const file of (await readdir(source.dir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort()) {
      files.push({ version: `${source.prefix ?? ""}${file}`, path: join(source.dir, file) });
    }
  }
  const applied: string[] = [];
  await inTransaction(sql, async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('classconnect.migrations'))`;
    await tx`create table if not exists schema_migrations (
      version text primary key,
      applied_at timestamptz not null default now()
    )`;
    const done = new Set(
      (await tx<{ version: string }[]>`select version from schema_migrations`).map((r) => r.version),
    );
    for (const { version, path } of files) {
      if (done.has(version)) continue;
      await tx.unsafe(await readFile(path, "utf8"));
      await tx`insert into schema_migrations (version) values (${version})`;
      applied.push(version);
      logger.info({ migration: version }, "migration applied");
    }
  });
  return applied;
}

/** Creates `name` on the server of `adminUrl` unless it exists. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid database name: ${name}`);
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`select 1 from pg_database where datname = ${name}`;
    if (rows.length === 0) await admin.unsafe(`create database ${name}`);
  } catch (err) {
    if ((err as { code?: string }).code !== "42P04") throw err;
  } finally {
    await admin.end();
  }
}

/** The URL of database `name` on the same server as `url`. */
export function databaseUrl(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** A LIKE pattern matching values that start with `text` (wildcards in `text` match literally). */
export const likePrefix = (text: string): string => `${escapeLike(text)}%`;

/** A LIKE pattern matching values that contain `text` literally. */
export const likeContains = (text: string): string => `%${escapeLike(text)}%`;
