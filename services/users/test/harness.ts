/**
 * Starts a real users service for a suite: its own database on the shared
 * embedded PostgreSQL, HTTP/2 on a free port, the real interceptors, the real
 * firebase-admin verifier (against the loopback key server) and a recording
 * mailer. Admin tokens are signed with a test key the server trusts, standing
 * in for the admin service until it exists.
 */

import { randomUUID } from "node:crypto";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { UserAdminService } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import {
  ADMIN_TOKEN_ISSUER,
  createStaticKeySource,
  type Logger,
  loadSigningKey,
  SERVICE_TOKEN_HEADER,
  type SigningKey,
  signAccessToken,
} from "@classconnect/platform";
import {
  createTestDatabase,
  reporting,
  TEST_SERVICE_TOKEN,
  temporaryDirectory,
  testLogger,
} from "@classconnect/platform/testing";
import { createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { exportJWK, generateKeyPair } from "jose";
import postgres, { type Sql } from "postgres";
import { startUsersServer, type UsersServer } from "../src/app.js";
import { readUsersConfig } from "../src/config.js";
import type { Policies } from "../src/domain/deps.js";
import { createFirebaseGoogleVerifier } from "../src/ports/google.js";
import { type AccountMail, createOutboxMailer, createRecordingMailer } from "../src/ports/mailer.js";
import { type GoogleKeyServer, startGoogleKeyServer } from "./google-keys.js";

export interface UsersHarness {
  server: UsersServer;
  url: string;
  databaseUrl: string;
  /** The local blob store's directory (BLOB_STORE local, the default). */
  blobDir: string;
  mail: AccountMail[];
  google: GoogleKeyServer;
  adminKey: SigningKey;
  /** The users service's own signing key (its private JWK is passed in the config). */
  userKey: SigningKey;
  transport: Transport;
  auth: ReturnType<typeof createClient<typeof AuthService>>;
  users: ReturnType<typeof createClient<typeof UserService>>;
  admin: ReturnType<typeof createClient<typeof UserAdminService>>;
  /** Headers for a call with a bearer token. */
  bearer(token: string): { headers: Record<string, string> };
  service: { headers: Record<string, string> };
  /** An administrator's access token (for `adminId`, a new id by default). */
  adminToken(adminId?: string): Promise<string>;
  /** Registers a user and returns its session. */
  register(
    overrides?: Partial<{ email: string; password: string; firstName: string; lastName: string }>,
  ): Promise<{
    userId: string;
    email: string;
    password: string;
    accessToken: string;
    refreshToken: string;
  }>;
  lastMail(kind: AccountMail["kind"], to: string): AccountMail | undefined;
  /** A direct connection to the service's database, for tests that age or inspect rows. */
  sql: Sql;
  close(): Promise<void>;
}

export async function startUsersHarness(
  options: {
    policies?: Partial<Policies>;
    logger?: Logger;
    env?: Record<string, string>;
    /** An existing database (e.g. one left by older migrations); a new one otherwise. */
    databaseUrl?: string;
    /**
     * "outbox": account e-mails are recorded in the outbox as in production (read them from
     * `sql`; nothing relays them here) instead of the in-memory mailbox `mail`.
     */
    mail?: "memory" | "outbox";
  } = {},
): Promise<UsersHarness> {
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase("users"));
  const logger = options.logger ?? testLogger("users");
  const google = await startGoogleKeyServer();
  const adminKey = await loadSigningKey();
  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  const userJwk = JSON.stringify({ ...(await exportJWK(privateKey)), kid: `users-${randomUUID()}` });
  const userKey = await loadSigningKey(userJwk);
  const recording = createRecordingMailer(logger);
  const mailPool =
    options.mail === "outbox" ? postgres(databaseUrl, { max: 1, onnotice: () => {} }) : undefined;
  const mailer = mailPool ? createOutboxMailer(mailPool) : recording;
  const blobDir = temporaryDirectory("blobs");
  const config = readUsersConfig({
    USERS_DATABASE_URL: databaseUrl,
    USERS_PORT: "0",
    SERVICE_TOKEN: TEST_SERVICE_TOKEN,
    BLOB_DIR: blobDir,
    USERS_JWT_PRIVATE_JWK: userJwk,
    ...options.env,
  });
  const server = await startUsersServer(config, {
    logger,
    mailer,
    google: createFirebaseGoogleVerifier({ projectId: google.projectId, httpAgent: google.agent }),
    adminKeys: createStaticKeySource([adminKey.publicJwk]),
    ...(options.policies ? { policies: options.policies } : {}),
  });
  const transport = createConnectTransport({
    baseUrl: server.url,
    httpVersion: "2",
  });
  const auth = reporting(createClient(AuthService, transport));
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const harness: UsersHarness = {
    server,
    url: server.url,
    databaseUrl,
    blobDir,
    mail: recording.sent,
    google,
    adminKey,
    userKey,
    transport,
    auth,
    users: reporting(createClient(UserService, transport)),
    admin: reporting(createClient(UserAdminService, transport)),
    bearer: (token) => ({ headers: { authorization: `Bearer ${token}` } }),
    service: { headers: { [SERVICE_TOKEN_HEADER]: TEST_SERVICE_TOKEN } },
    async adminToken(adminId = randomUUID()) {
      return (
        await signAccessToken(
          adminKey,
          ADMIN_TOKEN_ISSUER,
          { sub: adminId, sid: randomUUID(), typ: "admin" },
          600,
        )
      ).token;
    },
    async register(overrides = {}) {
      const email = overrides.email ?? `user-${randomUUID().slice(0, 8)}@example.com`;
      const password = overrides.password ?? "correct horse battery";
      const res = await auth.register({
        email,
        password,
        firstName: overrides.firstName ?? "Ada",
        lastName: overrides.lastName ?? "Lovelace",
        location: "London",
        acceptTerms: true,
      });
      return {
        userId: res.user!.id,
        email,
        password,
        accessToken: res.session!.accessToken,
        refreshToken: res.session!.refreshToken,
      };
    },
    lastMail(kind, to) {
      return recording.sent.filter((m) => m.kind === kind && m.to === to.toLowerCase()).at(-1);
    },
    sql,
    async close() {
      await sql.end();
      await mailPool?.end();
      await server.close();
      await google.close();
    },
  };
  return harness;
}
