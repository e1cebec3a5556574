/**
 * Builds the admin service: its store (PostgreSQL, or MongoDB when
 * configured), the admin-token signing key, the first administrator, and the
 * five APIs. Events (rule published) leave through the PostgreSQL outbox.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AdminAuthService } from "@classconnect/gen/classconnect/admin/v1/admin_auth_service_pb.js";
import { AuditService } from "@classconnect/gen/classconnect/admin/v1/audit_service_pb.js";
import { PlatformService } from "@classconnect/gen/classconnect/admin/v1/platform_service_pb.js";
import { RuleService } from "@classconnect/gen/classconnect/admin/v1/rule_service_pb.js";
import { UserManagementService } from "@classconnect/gen/classconnect/admin/v1/user_management_service_pb.js";
import { StatisticsService } from "@classconnect/gen/classconnect/courses/v1/statistics_service_pb.js";
import { DeliveryLogService } from "@classconnect/gen/classconnect/notifications/v1/delivery_log_service_pb.js";
import { UserAdminService } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import {
  ADMIN_TOKEN_ISSUER,
  combineKeySources,
  createLogger,
  createServiceClient,
  createStaticKeySource,
  type KeySource,
  type Logger,
  listenForChanges,
  loadSigningKey,
  outboxMigrations,
  periodOf,
  type RunningService,
  signAccessToken,
  startService,
} from "@classconnect/platform";
import type { AdminConfig } from "./config.js";
import { createAdmins } from "./domain/admins.js";
import { createAudit } from "./domain/audit.js";
import { createFigures, type FigureSources } from "./domain/figures.js";
import { createRules } from "./domain/rules.js";
import {
  createAdminAuthService,
  createAuditService,
  createPlatformService,
  createRuleService,
  createUserManagementService,
} from "./handlers.js";
import { createMongoAdminStore } from "./store/mongo-store.js";
import { createPostgresAdminStore } from "./store/postgres-store.js";

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

export const ADMIN_TOKEN_TTL_SECONDS = 3600;

/** Wakes held AdminAuthService.ListRevokedSessions calls in every replica. */
const REVOCATION_CHANNEL = "classconnect_admin_session_revoked";

/** Replaceable parts, for tests. */
export interface AdminOverrides {
  logger?: Logger;
  /** Extra trusted admin keys (tests), besides this service's own. */
  adminKeys?: KeySource;
  outbox?: { pollMs?: number; baseDelayMs?: number };
  now?: () => Date;
}

export async function startAdminServer(
  config: AdminConfig,
  overrides: AdminOverrides = {},
): Promise<RunningService> {
  const logger = overrides.logger ?? createLogger("admin", config.logLevel);
  return startService({
    name: "admin",
    config,
    logger,
    migrations: [{ dir: migrationsDir }, outboxMigrations],
    outbox: overrides.outbox ?? {},
    async setup(sql) {
      const store =
        config.store === "mongodb"
          ? await createMongoAdminStore(config.mongodbUrl!, config.mongodbDatabase)
          : createPostgresAdminStore(sql);
      const signingKey = await loadSigningKey(config.signingKeyJwk);
      const audit = createAudit(store);
      // Revocations are announced on PostgreSQL whichever store holds the sessions: every
      // admin service has its outbox there.
      const revocations = listenForChanges(sql, REVOCATION_CHANNEL, logger);
      const admins = createAdmins({
        store,
        logger,
        issue: (adminId, sessionId) =>
          signAccessToken(
            signingKey,
            ADMIN_TOKEN_ISSUER,
            { sub: adminId, sid: sessionId, typ: "admin" },
            ADMIN_TOKEN_TTL_SECONDS,
          ),
        tokenTtlMs: ADMIN_TOKEN_TTL_SECONDS * 1000,
        revocations: {
          signal: revocations,
          announce: async () => {
            await sql.notify(REVOCATION_CHANNEL, "");
          },
        },
      });
      if (config.firstAdminEmail && config.firstAdminPassword) {
        await admins.ensureFirstAdmin(config.firstAdminEmail, config.firstAdminPassword);
      }
      const own = createStaticKeySource([signingKey.publicJwk]);
      return {
        adminKeys: overrides.adminKeys ? combineKeySources(own, overrides.adminKeys) : own,
        checkAdmin: (admin) => admins.assertSessionActive(admin.adminId, admin.sessionId),
        onDrain: () => revocations.release(),
        routes(router) {
          router.service(
            AdminAuthService,
            createAdminAuthService(admins, () => [signingKey.publicJwk]),
          );
          router.service(
            RuleService,
            createRuleService(createRules({ store, outbox: sql, now: overrides.now ?? (() => new Date()) })),
          );
          router.service(AuditService, createAuditService(store, audit));
          router.service(
            UserManagementService,
            createUserManagementService(config.usersServiceUrl, config.serviceToken, audit, logger),
          );
          router.service(
            PlatformService,
            createPlatformService(
              createFigures({
                sources: figureSources(config),
                now: overrides.now ?? (() => new Date()),
                logger,
              }),
            ),
          );
        },
        async onClose() {
          await revocations.close();
          await store.close();
        },
      };
    },
  });
}

/** Each service's own figures, asked as a service. */
function figureSources(config: AdminConfig): FigureSources {
  const users = createServiceClient(UserAdminService, config.usersServiceUrl, config.serviceToken);
  const courses = createServiceClient(StatisticsService, config.coursesServiceUrl, config.serviceToken);
  const notifications = createServiceClient(
    DeliveryLogService,
    config.notificationsServiceUrl,
    config.serviceToken,
  );
  const period = (from: Date, to: Date) => ({ period: periodOf(from, to) });
  return {
    users: async (from, to) => (await users.getUserFigures(period(from, to))).figures,
    courses: async (from, to) => (await courses.getPlatformCourseFigures(period(from, to))).figures,
    deliveries: async (from, to) => (await notifications.getDeliveryFigures(period(from, to))).counts,
  };
}
