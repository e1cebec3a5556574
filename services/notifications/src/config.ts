import { type BaseServiceConfig, loadConfig, readBaseConfig } from "@classconnect/platform";

export type NotificationsConfig = BaseServiceConfig;

/** The only place the notifications service reads the environment. */
export function readNotificationsConfig(
  env: Record<string, string | undefined> = process.env,
): NotificationsConfig {
  return loadConfig((e) => readBaseConfig(e, "NOTIFICATIONS", 50053), env);
}
