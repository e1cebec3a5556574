/**
 * The notifications service. Its contracts are complete; its methods are not built yet
 * and answer UNIMPLEMENTED, while health, authentication and the database are live.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DeliveryLogService } from "@classconnect/gen/classconnect/notifications/v1/delivery_log_service_pb.js";
import { DispatchService } from "@classconnect/gen/classconnect/notifications/v1/dispatch_service_pb.js";
import { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import { type KeySource, type Logger, type RunningService, startService } from "@classconnect/platform";
import type { NotificationsConfig } from "./config.js";

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

/** Replaceable parts, for tests. */
export interface NotificationsOverrides {
  logger?: Logger;
  adminKeys?: KeySource;
}

export async function startNotificationsServer(
  config: NotificationsConfig,
  overrides: NotificationsOverrides = {},
): Promise<RunningService> {
  return startService({
    name: "notifications",
    config,
    ...(overrides.logger ? { logger: overrides.logger } : {}),
    migrations: migrationsDir,
    setup: () => ({
      ...(overrides.adminKeys ? { adminKeys: overrides.adminKeys } : {}),
      routes(router) {
        router.service(NotificationService, {});
        router.service(DispatchService, {});
        router.service(DeliveryLogService, {});
      },
    }),
  });
}
