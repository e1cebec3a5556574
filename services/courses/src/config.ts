import { type FileServiceConfig, loadConfig, readBaseConfig, readBlobConfig } from "@classconnect/platform";

export interface CoursesConfig extends FileServiceConfig {
  usersServiceUrl: string;
}

/** The only place the courses service reads the environment. */
export function readCoursesConfig(env: Record<string, string | undefined> = process.env): CoursesConfig {
  return loadConfig(
    (e) => ({
      ...readBaseConfig(e, "COURSES", 50052),
      usersServiceUrl: e.string("USERS_SERVICE_URL", "http://127.0.0.1:50051"),
      blobs: readBlobConfig(e),
    }),
    env,
  );
}
