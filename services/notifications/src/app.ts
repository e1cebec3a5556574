/**
 * The notifications service. Its contracts are complete; its methods are not built yet
 * and answer UNIMPLEMENTED, while health, authentication and the database are live.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DeliveryLogService } from "@classconnect/gen/classconnect/notifications/v1/delivery_log_service_pb.js";
import { DispatchService } from "@classconnect/gen/classconnect/notifications/v1/dispatch_service_pb.js";
import { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import { type Logger, type RunningService, startService } from "@classconnect/platform";
import type { NotificationsConfig } from "./config.js";

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

export async function startNotificationsServer(
  config: NotificationsConfig,
  logger?: Logger,
): Promise<RunningService> {
  return startService({
    name: "notifications",
    config,
    ...(logger ? { logger } : {}),
    migrations: migrationsDir,
    setup: () => ({
      routes(router) {
        router.service(NotificationService, {});
        router.service(DispatchService, {});
        router.service(DeliveryLogService, {});
      },
    }),
  });
}
