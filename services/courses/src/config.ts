import { type BaseServiceConfig, loadConfig, readBaseConfig } from "@classconnect/platform";

export type CoursesConfig = BaseServiceConfig;

/** The only place the courses service reads the environment. */
export function readCoursesConfig(env: Record<string, string | undefined> = process.env): CoursesConfig {
  return loadConfig((e) => readBaseConfig(e, "COURSES", 50052), env);
}
