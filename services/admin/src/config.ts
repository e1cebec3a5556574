import { type BaseServiceConfig, loadConfig, readBaseConfig } from "@classconnect/platform";

export type AdminConfig = BaseServiceConfig;

/** The only place the admin service reads the environment. */
export function readAdminConfig(env: Record<string, string | undefined> = process.env): AdminConfig {
  return loadConfig((e) => readBaseConfig(e, "ADMIN", 50054), env);
}
