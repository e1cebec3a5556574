import { type LogLevel, loadConfig, logLevels } from "@classconnect/platform";

export interface UsersConfig {
  host: string;
  port: number;
  databaseUrl: string;
  logLevel: LogLevel;
  /** Credential other ClassConnect services present for internal methods. */
  serviceToken: string;
  /** Ed25519 private JWK that signs access tokens; generated per process when unset (not in production). */
  signingKeyJwk: string | undefined;
  accessTokenTtlSeconds: number;
  /** The admin service, whose JWKS verifies admin tokens. */
  adminServiceUrl: string | undefined;
  /** Firebase project for Google sign-in; unset disables it. */
  firebaseProjectId: string | undefined;
  /** Local mailbox directory (JSON files), when set. */
  mailDir: string | undefined;
  blobDir: string;
  blobPublicUrl: string;
  resetLinkBase: string;
}

/** The only place the users service reads the environment. */
export function readUsersConfig(env: Record<string, string | undefined> = process.env): UsersConfig {
  return loadConfig((e) => {
    const production =
      e.oneOf("NODE_ENV", ["development", "test", "production"], "development") === "production";
    return {
      host: e.string("USERS_HOST", "127.0.0.1"),
      port: e.int("USERS_PORT", 50051, 0, 65535),
      databaseUrl: e.string("USERS_DATABASE_URL"),
      logLevel: e.oneOf("LOG_LEVEL", logLevels, "info"),
      serviceToken: e.string("SERVICE_TOKEN"),
      signingKeyJwk: production ? e.string("USERS_JWT_PRIVATE_JWK") : e.optional("USERS_JWT_PRIVATE_JWK"),
      accessTokenTtlSeconds: e.int("ACCESS_TOKEN_TTL_SECONDS", 900, 60, 86_400),
      adminServiceUrl: e.optional("ADMIN_SERVICE_URL"),
      firebaseProjectId: e.optional("FIREBASE_PROJECT_ID"),
      mailDir: e.optional("MAIL_DIR"),
      blobDir: e.string("BLOB_DIR", ".data/blobs"),
      blobPublicUrl: e.string("BLOB_PUBLIC_URL", "http://localhost:8080/blobs"),
      resetLinkBase: e.string("RESET_LINK_BASE", "classconnect://reset-password?token="),
    };
  }, env);
}
