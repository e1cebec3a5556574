/**
 * What every ClassConnect service does at start-up, in one place: read the
 * common settings, open the database pool and migrate, wire token
 * verification (users' and admins' JWKS), start the server, and close it all
 * on shutdown.
 */

import { AdminAuthService } from "@classconnect/gen/classconnect/admin/v1/admin_auth_service_pb.js";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import type { ConnectRouter } from "@connectrpc/connect";
import { createClient } from "@connectrpc/connect";
import { type AuthOptions, createAuthInterceptor } from "./auth-interceptor.js";
import { createServiceTransport } from "./client.js";
import { type EnvReader, type LogLevel, logLevels } from "./config.js";
import { createPool, isDatabaseReady, type MigrationSource, migrate, type Sql } from "./db.js";
import { createLogger, type Logger } from "./logger.js";
import { installNodeFixes } from "./node-fixes.js";
import { createOutboxPublisher, startOutboxRelay } from "./outbox.js";
import { adminRevokedSessions, trackRevokedSessions, usersRevokedSessions } from "./revoked-sessions.js";
import { closeOnSignals, type RunningServer, startServer } from "./server.js";
import { initTelemetry } from "./telemetry.js";
import { createRemoteKeySource, createTokenVerifier, type KeySource } from "./tokens.js";

export interface BaseServiceConfig {
  host: string;
  port: number;
  databaseUrl: string;
  logLevel: LogLevel;
  /** Credential ClassConnect services present to each other for internal methods. */
  serviceToken: string;
  /** The users service (JWKS for user tokens, profiles). */
  usersServiceUrl: string | undefined;
  /** The admin service (JWKS for admin tokens). */
  adminServiceUrl: string | undefined;
  /** The notifications service, where the outbox relay delivers events; unset keeps them in the outbox. */
  notificationsServiceUrl: string | undefined;
  /** OTLP/HTTP endpoint for traces (e.g. the Datadog Agent's OTLP intake); unset disables export. */
  otlpEndpoint: string | undefined;
  /** Port of the Prometheus /metrics endpoint; unset disables it. */
  metricsPort: number | undefined;
  /** Callers' connections are closed gracefully after about this long (0: never); see ServerOptions. */
  maxConnectionAgeMs: number;
  /** A caller's request must fully arrive within this (each HTTP/2 stream); see ServerOptions.limits. */
  requestTimeoutMs: number;
  /** A caller's connection with no call in progress is closed (GOAWAY) after this. */
  keepAliveTimeoutMs: number;
}

/** Reads `<PREFIX>_HOST`, `<PREFIX>_PORT`, `<PREFIX>_DATABASE_URL` and the shared settings. */
export function readBaseConfig(e: EnvReader, prefix: string, defaultPort: number): BaseServiceConfig {
  return {
    host: e.string(`${prefix}_HOST`, "127.0.0.1"),
    port: e.int(`${prefix}_PORT`, defaultPort, 0, 65535),
    databaseUrl: e.string(`${prefix}_DATABASE_URL`),
    logLevel: e.oneOf("LOG_LEVEL", logLevels, "info"),
    serviceToken: e.string("SERVICE_TOKEN"),
    usersServiceUrl: e.optional("USERS_SERVICE_URL"),
    adminServiceUrl: e.optional("ADMIN_SERVICE_URL"),
    notificationsServiceUrl: e.optional("NOTIFICATIONS_SERVICE_URL"),
    otlpEndpoint: e.optional("OTEL_EXPORTER_OTLP_ENDPOINT"),
    metricsPort: e.optional("METRICS_PORT") === undefined ? undefined : e.int("METRICS_PORT", 0, 0, 65535),
    maxConnectionAgeMs: e.int("MAX_CONNECTION_AGE_MS", 300_000, 0, 86_400_000),
    requestTimeoutMs: e.int("REQUEST_TIMEOUT_MS", 300_000, 100, 3_600_000),
    keepAliveTimeoutMs: e.int("KEEP_ALIVE_TIMEOUT_MS", 65_000, 100, 600_000),
  };
}

/** Verification keys published by the users service (AuthService.GetJwks). */
export function usersKeySource(usersServiceUrl: string): KeySource {
  const client = createClient(AuthService, createServiceTransport(usersServiceUrl));
  return createRemoteKeySource(async () => (await client.getJwks({}, { timeoutMs: 3000 })).keys);
}

/** Verification keys published by the admin service (AdminAuthService.GetJwks). */
export function adminKeySource(adminServiceUrl: string): KeySource {
  const client = createClient(AdminAuthService, createServiceTransport(adminServiceUrl));
  return createRemoteKeySource(async () => (await client.getJwks({}, { timeoutMs: 3000 })).keys);
}

/** What a service contributes once its database is open. */
export interface ServiceParts {
  routes: (router: ConnectRouter) => void;
  /** Override the key sources (tests, or the users service verifying its own tokens). */
  userKeys?: KeySource;
  adminKeys?: KeySource;
  checkUser?: AuthOptions["checkUser"];
  /** The admin service checks its own admin sessions; the others follow its list of revoked ones. */
  checkAdmin?: AuthOptions["checkAdmin"];
  /** Called as the server starts draining (before its calls finish), e.g. to answer held long polls. */
  onDrain?: () => void;
  onClose?: () => Promise<void>;
  readMaxBytes?: number;
}

export interface ServiceOptions {
  name: string;
  config: BaseServiceConfig;
  logger?: Logger;
  /** SQL migrations applied before serving: a directory, or several sources (e.g. `outboxMigrations`). */
  migrations?: string | MigrationSource[];
  /** Builds the service's parts on its migrated database. */
  setup: (sql: Sql, logger: Logger) => Promise<ServiceParts> | ServiceParts;
  /**
   * Relay the service's transactional outbox (when `config.notificationsServiceUrl` is
   * set): events to the notifications service, audit entries to the admin service
   * (`config.adminServiceUrl`). Needs `outboxMigrations`.
   */
  outbox?: { pollMs?: number; baseDelayMs?: number };
}

export interface RunningService extends RunningServer {
  logger: Logger;
}

export async function startService(options: ServiceOptions): Promise<RunningService> {
  const { config } = options;
  const logger = options.logger ?? createLogger(options.name, config.logLevel);
  const sql = createPool(config.databaseUrl, { applicationName: `classconnect-${options.name}` });
  let parts: ServiceParts;
  try {
    if (options.migrations) await migrate(sql, options.migrations, logger);
    parts = await options.setup(sql, logger);
  } catch (err) {
    await sql.end({ timeout: 1 });
    throw err;
  }
  const relay =
    options.outbox && config.notificationsServiceUrl
      ? startOutboxRelay({
          service: options.name,
          sql,
          logger,
          publish: createOutboxPublisher({
            notifications: config.notificationsServiceUrl,
            admin: config.adminServiceUrl,
            serviceToken: config.serviceToken,
          }),
          ...options.outbox,
        })
      : undefined;
  const userKeys =
    parts.userKeys ?? (config.usersServiceUrl ? usersKeySource(config.usersServiceUrl) : undefined);
  const adminKeys =
    parts.adminKeys ?? (config.adminServiceUrl ? adminKeySource(config.adminServiceUrl) : undefined);
  // Services other than users (which checks its own sessions table) refuse the sessions it lists as revoked.
  const revoked =
    !parts.checkUser && config.usersServiceUrl
      ? trackRevokedSessions(usersRevokedSessions(config.usersServiceUrl, config.serviceToken), logger)
      : undefined;
  const checkUser: AuthOptions["checkUser"] | undefined =
    parts.checkUser ?? (revoked ? async (user) => revoked.assertLive(user.sessionId) : undefined);
  // Likewise for admin sessions, which the admin service lists.
  const revokedAdmins =
    !parts.checkAdmin && config.adminServiceUrl
      ? trackRevokedSessions(adminRevokedSessions(config.adminServiceUrl, config.serviceToken), logger, {
          name: "revoked admin sessions poll",
        })
      : undefined;
  const checkAdmin: AuthOptions["checkAdmin"] | undefined =
    parts.checkAdmin ??
    (revokedAdmins ? async (admin) => revokedAdmins.assertLive(admin.sessionId) : undefined);
  const verifier = createTokenVerifier({
    ...(userKeys ? { user: userKeys } : {}),
    ...(adminKeys ? { admin: adminKeys } : {}),
  });
  const server = await startServer({
    name: options.name,
    host: config.host,
    port: config.port,
    maxConnectionAgeMs: config.maxConnectionAgeMs,
    limits: { idleTimeoutMs: config.keepAliveTimeoutMs, requestTimeoutMs: config.requestTimeoutMs },
    logger,
    interceptors: [
      createAuthInterceptor({
        verifier,
        serviceToken: config.serviceToken,
        ...(checkUser ? { checkUser } : {}),
        ...(checkAdmin ? { checkAdmin } : {}),
      }),
    ],
    routes: parts.routes,
    ready: () => isDatabaseReady(sql),
    ...(parts.readMaxBytes ? { readMaxBytes: parts.readMaxBytes } : {}),
    ...(parts.onDrain ? { onDrain: parts.onDrain } : {}),
    async onClose() {
      await Promise.all([revoked?.close(), revokedAdmins?.close()]);
      await relay?.stop();
      await parts.onClose?.();
      await sql.end({ timeout: 5 });
    },
  });
  return { ...server, logger };
}

/**
 * The body of every `main.ts`: logger, telemetry (OTLP traces, Prometheus
 * metrics) as configured, the server, and a graceful stop on SIGTERM/SIGINT.
 */
export async function runProcess(
  name: string,
  config: { logLevel: LogLevel; otlpEndpoint: string | undefined; metricsPort: number | undefined },
  start: (logger: Logger) => Promise<{ close(): Promise<void> }>,
): Promise<void> {
  installNodeFixes();
  const logger = createLogger(name, config.logLevel);
  const telemetry = await initTelemetry({
    serviceName: name,
    ...(config.otlpEndpoint ? { otlpEndpoint: config.otlpEndpoint } : {}),
    ...(config.metricsPort !== undefined ? { metricsPort: config.metricsPort } : {}),
  });
  const server = await start(logger);
  closeOnSignals(async () => {
    await server.close();
    await telemetry.shutdown();
  }, logger);
}
