import { type FileServiceConfig, loadConfig, readBaseConfig, readBlobConfig } from "@classconnect/platform";

export interface CoursesConfig extends FileServiceConfig {
  usersServiceUrl: string;
  /** Deadline reminders: how long before a due time, and how often the service looks for them. */
  reminders: { leadMs: number; pollMs: number };
}

/** The only place the courses service reads the environment. */
export function readCoursesConfig(env: Record<string, string | undefined> = process.env): CoursesConfig {
  return loadConfig(
    (e) => ({
      ...readBaseConfig(e, "COURSES", 5052),
      usersServiceUrl: e.string("USERS_SERVICE_URL", "http://127.0.0.1:5051"),
      blobs: readBlobConfig(e),
      reminders: {
        leadMs: e.int("DEADLINE_REMINDER_HOURS", 24, 1, 720) * 3_600_000,
        pollMs: e.int("DEADLINE_REMINDER_POLL_SECONDS", 60, 1, 3600) * 1000,
      },
    }),
    env,
  );
}
