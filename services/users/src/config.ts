import { type FileServiceConfig, loadConfig, readBaseConfig, readBlobConfig } from "@classconnect/platform";

export interface UsersConfig extends FileServiceConfig {
  /** Ed25519 private JWK that signs access tokens; generated per process when unset (not in production). */
  signingKeyJwk: string | undefined;
  accessTokenTtlSeconds: number;
  /** Firebase project for Google sign-in; unset disables it. */
  firebaseProjectId: string | undefined;
  /** Local mailbox directory (JSON files), when set. */
  mailDir: string | undefined;
  /** The courses service: an account that still teaches is not deleted. Unset: not asked. */
  coursesServiceUrl: string | undefined;
  resetLinkBase: string;
}

/** The only place the users service reads the environment. */
export function readUsersConfig(env: Record<string, string | undefined> = process.env): UsersConfig {
  return loadConfig(
    (e) => ({
      ...readBaseConfig(e, "USERS", 5051),
      signingKeyJwk: e.requiredInProduction("USERS_JWT_PRIVATE_JWK"),
      accessTokenTtlSeconds: e.int("ACCESS_TOKEN_TTL_SECONDS", 900, 60, 86_400),
      firebaseProjectId: e.optional("FIREBASE_PROJECT_ID"),
      mailDir: e.optional("MAIL_DIR"),
      coursesServiceUrl: e.optional("COURSES_SERVICE_URL"),
      blobs: readBlobConfig(e),
      resetLinkBase: e.string("RESET_LINK_BASE", "classconnect://reset-password?token="),
    }),
    env,
  );
}
