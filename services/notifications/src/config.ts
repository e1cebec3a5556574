import { type BaseServiceConfig, loadConfig, readBaseConfig } from "@classconnect/platform";

export interface NotificationsConfig extends BaseServiceConfig {
  usersServiceUrl: string;
  coursesServiceUrl: string;
  store: "postgres" | "mongodb";
  mongodbUrl: string | undefined;
  mongodbDatabase: string;
  /** Brevo transactional e-mail; unset uses the local mailbox. */
  brevoApiKey: string | undefined;
  brevoBaseUrl: string | undefined;
  mailFrom: string;
  mailFromName: string;
  mailDir: string | undefined;
  /** Firebase Cloud Messaging; both set enables real pushes. */
  firebaseProjectId: string | undefined;
  firebaseCredentialsFile: string | undefined;
  retryBaseMs: number;
  retryMaxAttempts: number;
  /** How long claimed work stays with one worker before another may take it. */
  leaseMs: number;
}

/** The only place the notifications service reads the environment. */
export function readNotificationsConfig(
  env: Record<string, string | undefined> = process.env,
): NotificationsConfig {
  return loadConfig((e) => {
    const store = e.oneOf("NOTIFICATIONS_STORE", ["postgres", "mongodb"], "postgres");
    return {
      ...readBaseConfig(e, "NOTIFICATIONS", 50053),
      usersServiceUrl: e.string("USERS_SERVICE_URL", "http://127.0.0.1:50051"),
      coursesServiceUrl: e.string("COURSES_SERVICE_URL", "http://127.0.0.1:50052"),
      store,
      mongodbUrl: store === "mongodb" ? e.string("MONGODB_URL") : e.optional("MONGODB_URL"),
      mongodbDatabase: e.string("MONGODB_DATABASE", "classconnect_notifications"),
      brevoApiKey: e.optional("BREVO_API_KEY"),
      brevoBaseUrl: e.optional("BREVO_BASE_URL"),
      mailFrom: e.string("MAIL_FROM", "no-reply@classconnect.local"),
      mailFromName: e.string("MAIL_FROM_NAME", "ClassConnect"),
      mailDir: e.optional("MAIL_DIR"),
      firebaseProjectId: e.optional("FIREBASE_PROJECT_ID"),
      firebaseCredentialsFile: e.optional("FIREBASE_CREDENTIALS_FILE"),
      retryBaseMs: e.int("NOTIFY_RETRY_BASE_MS", 1000, 1, 600_000),
      retryMaxAttempts: e.int("NOTIFY_RETRY_MAX_ATTEMPTS", 8, 1, 100),
      leaseMs: e.int("NOTIFY_LEASE_MS", 60_000, 100, 3_600_000),
    };
  }, env);
}
