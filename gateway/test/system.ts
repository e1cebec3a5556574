/**
 * The whole platform in one test process, on real sockets: the four services
 * (each with its own database on the shared embedded PostgreSQL) and the
 * gateway in front, talking gRPC over HTTP/2 exactly as in production.
 */

import { randomUUID } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DescService } from "@bufbuild/protobuf";
import { readAdminConfig, startAdminServer } from "@classconnect/admin";
import { readCoursesConfig, startCoursesServer } from "@classconnect/courses";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { readNotificationsConfig, startNotificationsServer } from "@classconnect/notifications";
import {
  ADMIN_TOKEN_ISSUER,
  createStaticKeySource,
  freePort,
  loadSigningKey,
  type SigningKey,
  signAccessToken,
} from "@classconnect/platform";
import {
  createTestDatabase,
  reporting,
  TEST_SERVICE_TOKEN,
  testLogger,
} from "@classconnect/platform/testing";
import {
  type AccountMail,
  createRecordingMailer,
  readUsersConfig,
  startUsersServer,
} from "@classconnect/users";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { type RunningGateway, readGatewayConfig, startGateway } from "../src/index.js";

export interface TestUser {
  userId: string;
  email: string;
  password: string;
  token: string;
  /** Call options carrying the user's access token. */
  auth: { headers: Record<string, string> };
}

export interface System {
  gateway: RunningGateway;
  url: string;
  mail: AccountMail[];
  adminKey: SigningKey;
  /** Each service's database, for assertions on stored state (outbox, counters). */
  databases: { users: string; courses: string; notifications: string; admin: string };
  /** A client of `service` through the gateway (gRPC over h2c). */
  client<T extends DescService>(service: T): Client<T>;
  /** Registers a new user through the gateway. */
  register(overrides?: { firstName?: string; lastName?: string }): Promise<TestUser>;
  /**
   * The courses service's clock, which tests can move forward to reach due
   * times and exam time limits without waiting (a fake clock: only the
   * passage of time is simulated; everything else is real).
   */
  clock: { advance(ms: number): void };
  /** Call options with an admin token (signed by the test admin key the system trusts). */
  adminAuth(): Promise<{ headers: Record<string, string> }>;
  close(): Promise<void>;
}

export async function startSystem(gatewayEnv: Record<string, string> = {}): Promise<System> {
  let clockOffset = 0;
  const gatewayPort = await freePort();
  const blobDir = await mkdtemp(join(tmpdir(), "classconnect-sys-blobs-"));
  const shared = {
    SERVICE_TOKEN: TEST_SERVICE_TOKEN,
    BLOB_DIR: blobDir,
    BLOB_PUBLIC_URL: `http://127.0.0.1:${gatewayPort}/blobs`,
  };
  const mailer = createRecordingMailer(testLogger("users"));
  const adminKey = await loadSigningKey();
  const adminKeys = createStaticKeySource([adminKey.publicJwk]);
  const databases = {
    users: await createTestDatabase("sys_users"),
    courses: await createTestDatabase("sys_courses"),
    notifications: await createTestDatabase("sys_notifications"),
    admin: await createTestDatabase("sys_admin"),
  };
  const users = await startUsersServer(
    readUsersConfig({
      ...shared,
      USERS_PORT: "0",
      USERS_DATABASE_URL: databases.users,
    }),
    { logger: testLogger("users"), mailer, adminKeys },
  );
  const withUsers = { ...shared, USERS_SERVICE_URL: users.url };
  const courses = await startCoursesServer(
    readCoursesConfig({
      ...withUsers,
      COURSES_PORT: "0",
      COURSES_DATABASE_URL: databases.courses,
    }),
    { logger: testLogger("courses"), adminKeys, now: () => new Date(Date.now() + clockOffset) },
  );
  const notifications = await startNotificationsServer(
    readNotificationsConfig({
      ...withUsers,
      NOTIFICATIONS_PORT: "0",
      NOTIFICATIONS_DATABASE_URL: databases.notifications,
    }),
    { logger: testLogger("notifications"), adminKeys },
  );
  const admin = await startAdminServer(
    readAdminConfig({
      ...withUsers,
      ADMIN_PORT: "0",
      ADMIN_DATABASE_URL: databases.admin,
    }),
    { logger: testLogger("admin"), adminKeys },
  );
  const gateway = await startGateway(
    readGatewayConfig({
      GATEWAY_PORT: String(gatewayPort),
      BLOB_DIR: blobDir,
      USERS_SERVICE_URL: users.url,
      COURSES_SERVICE_URL: courses.url,
      NOTIFICATIONS_SERVICE_URL: notifications.url,
      ADMIN_SERVICE_URL: admin.url,
      // Suites register many users from one address; the rate-limit suite sets its own.
      AUTH_RATE_LIMIT_PER_MINUTE: "100000",
      ...gatewayEnv,
    }),
    // The admin service cannot sign in admins yet; the gateway trusts a test admin key instead.
    { logger: testLogger("gateway"), adminKeys },
  );
  const transport = createGrpcTransport({ baseUrl: gateway.url });
  const auth = reporting(createClient(AuthService, transport));
  return {
    gateway,
    url: gateway.url,
    mail: mailer.sent,
    adminKey,
    databases,
    clock: {
      advance(ms) {
        clockOffset += ms;
      },
    },
    client: (service) => reporting(createClient(service, transport)),
    async register(overrides = {}) {
      const email = `u-${randomUUID()}@example.com`;
      const password = "password-for-tests";
      const res = await auth.register({
        email,
        password,
        firstName: overrides.firstName ?? "Test",
        lastName: overrides.lastName ?? "User",
        location: "Somewhere",
        acceptTerms: true,
      });
      const token = res.session!.accessToken;
      return {
        userId: res.user!.id,
        email,
        password,
        token,
        auth: { headers: { authorization: `Bearer ${token}` } },
      };
    },
    async adminAuth() {
      const { token } = await signAccessToken(
        adminKey,
        ADMIN_TOKEN_ISSUER,
        { sub: randomUUID(), typ: "admin" },
        600,
      );
      return { headers: { authorization: `Bearer ${token}` } };
    },
    async close() {
      await gateway.close();
      await Promise.all([users.close(), courses.close(), notifications.close(), admin.close()]);
    },
  };
}
