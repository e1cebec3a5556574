import { type BaseServiceConfig, loadConfig, readBaseConfig } from "@classconnect/platform";

export interface AdminConfig extends BaseServiceConfig {
  usersServiceUrl: string;
  /** Asked for the platform's figures, with the users service. */
  coursesServiceUrl: string;
  notificationsServiceUrl: string;
  store: "postgres" | "mongodb";
  mongodbUrl: string | undefined;
  mongodbDatabase: string;
  /** Ed25519 private JWK that signs admin tokens; generated per process when unset (not in production). */
  signingKeyJwk: string | undefined;
  /** The first administrator, created at start-up when both are set. */
  firstAdminEmail: string | undefined;
  firstAdminPassword: string | undefined;
}

/** The only place the admin service reads the environment. */
export function readAdminConfig(env: Record<string, string | undefined> = process.env): AdminConfig {
  return loadConfig((e) => {
    const store = e.oneOf("ADMIN_STORE", ["postgres", "mongodb"], "postgres");
    return {
      ...readBaseConfig(e, "ADMIN", 5054),
      usersServiceUrl: e.string("USERS_SERVICE_URL", "http://127.0.0.1:5051"),
      coursesServiceUrl: e.string("COURSES_SERVICE_URL", "http://127.0.0.1:5052"),
      notificationsServiceUrl: e.string("NOTIFICATIONS_SERVICE_URL", "http://127.0.0.1:5053"),
      store,
      mongodbUrl: store === "mongodb" ? e.string("MONGODB_URL") : e.optional("MONGODB_URL"),
      mongodbDatabase: e.string("MONGODB_ADMIN_DATABASE", "classconnect_admin"),
      signingKeyJwk: e.requiredInProduction("ADMIN_JWT_PRIVATE_JWK"),
      firstAdminEmail: e.optional("CLASSCONNECT_ADMIN_EMAIL"),
      firstAdminPassword: e.optional("CLASSCONNECT_ADMIN_PASSWORD"),
    };
  }, env);
}
