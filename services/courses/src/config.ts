import { type BaseServiceConfig, loadConfig, readBaseConfig } from "@classconnect/platform";

export interface CoursesConfig extends BaseServiceConfig {
  usersServiceUrl: string;
  blobDir: string;
  blobPublicUrl: string;
}

/** The only place the courses service reads the environment. */
export function readCoursesConfig(env: Record<string, string | undefined> = process.env): CoursesConfig {
  return loadConfig(
    (e) => ({
      ...readBaseConfig(e, "COURSES", 50052),
      usersServiceUrl: e.string("USERS_SERVICE_URL", "http://127.0.0.1:50051"),
      blobDir: e.string("BLOB_DIR", ".data/blobs"),
      blobPublicUrl: e.string("BLOB_PUBLIC_URL", "http://localhost:8080/blobs"),
    }),
    env,
  );
}
