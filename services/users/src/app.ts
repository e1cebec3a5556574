/**
 * Builds the users service from its configuration: database and migrations,
 * signing key, ports (mail, blobs, Google), domain logic and handlers.
 * main.ts runs it as a process; tests start it in-process on port 0.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { UserAdminService } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import {
  type BlobStore,
  createBlobStore,
  createLogger,
  createStaticKeySource,
  type KeySource,
  type Logger,
  listenForChanges,
  loadSigningKey,
  outboxMigrations,
  type RunningServer,
  signAccessToken,
  startPeriodicTask,
  startService,
  USER_TOKEN_ISSUER,
} from "@classconnect/platform";
import { createAuthService } from "./auth-service.js";
import type { UsersConfig } from "./config.js";
import { createUserAdmin } from "./domain/admin.js";
import { createAuth } from "./domain/auth.js";
import { type Deps, defaultPolicies, type Policies } from "./domain/deps.js";
import { createProfiles } from "./domain/profiles.js";
import { createRefreshTokenCodec } from "./domain/refresh-tokens.js";
import { createCoursesDirectory } from "./ports/courses.js";
import {
  createDisabledGoogleVerifier,
  createFirebaseGoogleVerifier,
  type GoogleVerifier,
} from "./ports/google.js";
import { createOutboxMailer, createRecordingMailer, type Mailer } from "./ports/mailer.js";
import { createPostgresUsersStore } from "./store/postgres-store.js";
import { createUserAdminService } from "./user-admin-service.js";
import { createUserService } from "./user-service.js";

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

/** Replaceable parts, for tests (e.g. a Google verifier pointed at a loopback key server). */
export interface UsersOverrides {
  logger?: Logger;
  mailer?: Mailer;
  google?: GoogleVerifier;
  blobs?: BlobStore;
  adminKeys?: KeySource;
  policies?: Partial<Policies>;
  now?: () => Date;
  /** Outbox relay timing (tests shorten it). */
  outbox?: { pollMs?: number; baseDelayMs?: number };
}

export interface UsersServer extends RunningServer {
  mailer: Mailer;
  /** Deletes expired tokens, links, PINs and dead sessions now (hourly by itself); returns how many rows. */
  pruneExpired(): Promise<number>;
}

/** How often the users service deletes what has expired. */
const PRUNE_EVERY_MS = 3_600_000;

export async function startUsersServer(
  config: UsersConfig,
  overrides: UsersOverrides = {},
): Promise<UsersServer> {
  const logger = overrides.logger ?? createLogger("users", config.logLevel);
  let mailer = overrides.mailer;
  let prune: (() => Promise<number>) | undefined;
  const server = await startService({
    name: "users",
    config,
    logger,
    migrations: [{ dir: migrationsDir }, outboxMigrations],
    outbox: overrides.outbox ?? {},
    async setup(sql) {
      // With a notifications service, account e-mails go through the outbox; otherwise to the local mailbox.
      mailer ??= config.notificationsServiceUrl
        ? createOutboxMailer(sql)
        : createRecordingMailer(logger, config.mailDir);
      const signingKey = await loadSigningKey(config.signingKeyJwk);
      const google =
        overrides.google ??
        (config.firebaseProjectId
          ? createFirebaseGoogleVerifier({ projectId: config.firebaseProjectId })
          : createDisabledGoogleVerifier());
      // Long polls of ListRevokedSessions wake on the trigger's NOTIFY (migration 0004).
      const revocations = listenForChanges(sql, "classconnect_session_revoked", logger);
      const deps: Deps = {
        store: createPostgresUsersStore(sql),
        mailer,
        google,
        blobs: overrides.blobs ?? createBlobStore(config.blobs),
        ...(config.coursesServiceUrl
          ? { courses: createCoursesDirectory(config.coursesServiceUrl, config.serviceToken) }
          : {}),
        tokens: {
          issue: (userId, sessionId) =>
            signAccessToken(
              signingKey,
              USER_TOKEN_ISSUER,
              { sub: userId, sid: sessionId, typ: "user" },
              config.accessTokenTtlSeconds,
            ),
        },
        refreshTokens: createRefreshTokenCodec(signingKey.deriveKey("refresh-token-mac")),
        policies: {
          ...defaultPolicies,
          accessTtlMs: config.accessTokenTtlSeconds * 1000,
          resetLinkBase: config.resetLinkBase,
          ...overrides.policies,
        },
        now: overrides.now ?? (() => new Date()),
        revocations,
      };
      const auth = createAuth(deps);
      // Revoked sessions stay a day longer than an access token lives, so every service has seen them.
      const pruneExpired = () => deps.store.pruneExpired(deps.policies.accessTtlMs + 86_400_000);
      prune = pruneExpired;
      const janitor = startPeriodicTask({
        name: "expired-credentials",
        everyMs: PRUNE_EVERY_MS,
        logger,
        run: pruneExpired,
      });
      return {
        userKeys: createStaticKeySource([signingKey.publicJwk]),
        ...(overrides.adminKeys ? { adminKeys: overrides.adminKeys } : {}),
        checkUser: (user) => auth.assertSessionActive(user.userId, user.sessionId),
        routes(router) {
          router.service(
            AuthService,
            createAuthService(auth, () => [signingKey.publicJwk]),
          );
          router.service(UserService, createUserService(createProfiles(deps, auth), auth));
          router.service(UserAdminService, createUserAdminService(createUserAdmin(deps)));
        },
        // A draining server answers held long polls at once, so that its calls can finish.
        onDrain: () => revocations.release(),
        onClose: async () => {
          await janitor.stop();
          await revocations.close();
          await google.close();
        },
      };
    },
  });
  const pruneNow = prune!;
  return { ...server, mailer: mailer!, pruneExpired: () => pruneNow() };
}
