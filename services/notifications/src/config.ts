import { type BaseServiceConfig, type EnvReader, loadConfig, readBaseConfig } from "@classconnect/platform";

export interface NotificationsConfig extends BaseServiceConfig {
  usersServiceUrl: string;
  coursesServiceUrl: string;
  store: "postgres" | "mongodb";
  mongodbUrl: string | undefined;
  mongodbDatabase: string;
  /** Brevo transactional e-mail; unset uses the local mailbox (not in production). */
  brevoApiKey: string | undefined;
  brevoBaseUrl: string | undefined;
  mailFrom: string;
  mailFromName: string;
  mailDir: string | undefined;
  /**
   * Firebase Cloud Messaging: a project and its service account's key (a file, or its JSON
   * itself, e.g. from a Kubernetes Secret) enable real pushes; without them pushes are only
   * logged (not in production).
   */
  firebaseProjectId: string | undefined;
  firebaseCredentials: { file: string } | { json: string } | undefined;
  retryBaseMs: number;
  retryMaxAttempts: number;
  /** How long claimed work stays with one worker before another may take it. */
  leaseMs: number;
  /**
   * Days that inbox items and finished events (with their delivery log) are kept; unset,
   * forever. At least 30: beyond any producer's redelivery of an event, whose id must still
   * be known then to stay idempotent.
   */
  retentionDays: number | undefined;
}

/** FIREBASE_CREDENTIALS_FILE if set, else FIREBASE_CREDENTIALS_JSON; production needs one of them. */
function firebaseCredentials(e: EnvReader): NotificationsConfig["firebaseCredentials"] {
  const file = e.optional("FIREBASE_CREDENTIALS_FILE");
  if (file !== undefined) return { file };
  const json = e.requiredInProduction("FIREBASE_CREDENTIALS_JSON");
  return json === undefined ? undefined : { json };
}

/** The only place the notifications service reads the environment. */
export function readNotificationsConfig(
  env: Record<string, string | undefined> = process.env,
): NotificationsConfig {
  return loadConfig((e) => {
    const store = e.oneOf("NOTIFICATIONS_STORE", ["postgres", "mongodb"], "postgres");
    return {
      ...readBaseConfig(e, "NOTIFICATIONS", 5053),
      usersServiceUrl: e.string("USERS_SERVICE_URL", "http://127.0.0.1:5051"),
      coursesServiceUrl: e.string("COURSES_SERVICE_URL", "http://127.0.0.1:5052"),
      store,
      mongodbUrl: store === "mongodb" ? e.string("MONGODB_URL") : e.optional("MONGODB_URL"),
      mongodbDatabase: e.string("MONGODB_DATABASE", "classconnect_notifications"),
      // Production refuses to start without its providers rather than log what it never sent.
      brevoApiKey: e.requiredInProduction("BREVO_API_KEY"),
      brevoBaseUrl: e.optional("BREVO_BASE_URL"),
      mailFrom: e.string("MAIL_FROM", "no-reply@classconnect.local"),
      mailFromName: e.string("MAIL_FROM_NAME", "ClassConnect"),
      mailDir: e.optional("MAIL_DIR"),
      firebaseProjectId: e.requiredInProduction("FIREBASE_PROJECT_ID"),
      firebaseCredentials: firebaseCredentials(e),
      retryBaseMs: e.int("NOTIFY_RETRY_BASE_MS", 1000, 1, 600_000),
      retryMaxAttempts: e.int("NOTIFY_RETRY_MAX_ATTEMPTS", 8, 1, 100),
      leaseMs: e.int("NOTIFY_LEASE_MS", 60_000, 100, 3_600_000),
      retentionDays:
        e.optional("NOTIFICATIONS_RETENTION_DAYS") === undefined
          ? undefined
          : e.int("NOTIFICATIONS_RETENTION_DAYS", 0, 30, 3650),
    };
  }, env);
}
