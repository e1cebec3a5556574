/**
 * Applies a service's migrations and exits (the Helm chart's migration Job).
 * Usage: migrate-cli.ts <migrations dir> [--with-outbox]; the database URL is
 * read from the variable named by DATABASE_URL_VARIABLE (e.g. USERS_DATABASE_URL).
 */
import { loadConfig } from "./config.js";
import { createPool, type MigrationSource, migrate } from "./db.js";
import { createLogger } from "./logger.js";
import { outboxMigrations } from "./outbox.js";

const [dir, flag] = process.argv.slice(2);
const config = loadConfig((e) => {
  const variable = e.string("DATABASE_URL_VARIABLE");
  return { databaseUrl: variable ? e.string(variable) : "" };
});
if (!dir) throw new Error("usage: migrate-cli.ts <migrations dir> [--with-outbox]");
const logger = createLogger("migrate");
const sources: MigrationSource[] = [{ dir }, ...(flag === "--with-outbox" ? [outboxMigrations] : [])];
const sql = createPool(config.databaseUrl, { max: 1, applicationName: "classconnect-migrate" });
try {
  const applied = await migrate(sql, sources, logger);
  logger.info({ applied: applied.length }, "migrations up to date");
} finally {
  await sql.end();
}
