/**
 * The admin service. Its contracts are complete; its methods are not built yet
 * and answer UNIMPLEMENTED, while health, authentication and the database are live.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AdminAuthService } from "@classconnect/gen/classconnect/admin/v1/admin_auth_service_pb.js";
import { AuditService } from "@classconnect/gen/classconnect/admin/v1/audit_service_pb.js";
import { RuleService } from "@classconnect/gen/classconnect/admin/v1/rule_service_pb.js";
import { UserManagementService } from "@classconnect/gen/classconnect/admin/v1/user_management_service_pb.js";
import { type KeySource, type Logger, type RunningService, startService } from "@classconnect/platform";
import type { AdminConfig } from "./config.js";

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

/** Replaceable parts, for tests. */
export interface AdminOverrides {
  logger?: Logger;
  adminKeys?: KeySource;
}

export async function startAdminServer(
  config: AdminConfig,
  overrides: AdminOverrides = {},
): Promise<RunningService> {
  return startService({
    name: "admin",
    config,
    ...(overrides.logger ? { logger: overrides.logger } : {}),
    migrations: migrationsDir,
    setup: () => ({
      ...(overrides.adminKeys ? { adminKeys: overrides.adminKeys } : {}),
      routes(router) {
        router.service(AdminAuthService, {});
        router.service(RuleService, {});
        router.service(AuditService, {});
        router.service(UserManagementService, {});
      },
    }),
  });
}
