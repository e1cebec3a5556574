/**
 * The whole platform in one test process, on real sockets: the four services
 * (each with its own database on the shared embedded PostgreSQL) and the
 * gateway in front, talking gRPC over HTTP/2 exactly as in production, with
 * the outbox relays delivering events to the notifications service.
 *
 * Two things are stand-ins, because they cannot run here: e-mail goes to an
 * in-memory mailbox (or, when a suite passes `email`, to the real Brevo SDK
 * pointed at its loopback server), and admin tokens are signed with a test key
 * every service trusts until the admin service issues them.
 */

import { randomUUID } from "node:crypto";
import type { DescService } from "@bufbuild/protobuf";
import { readAdminConfig, startAdminServer } from "@classconnect/admin";
import { readCoursesConfig, startCoursesServer } from "@classconnect/courses";
import { AdminAuthService } from "@classconnect/gen/classconnect/admin/v1/admin_auth_service_pb.js";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import {
  createMailbox,
  createPushRecorder,
  type EmailMessage,
  type EmailSender,
  type NotificationsServer,
  type PushSender,
  readNotificationsConfig,
  startNotificationsServer,
} from "@classconnect/notifications";
import {
  adminKeySource,
  combineKeySources,
  createServiceClient,
  createStaticKeySource,
  freePort,
  loadSigningKey,
  type SigningKey,
} from "@classconnect/platform";
import {
  createTestDatabase,
  reporting,
  TEST_SERVICE_TOKEN,
  temporaryDirectory,
  testLogger,
} from "@classconnect/platform/testing";
import { readUsersConfig, startUsersServer } from "@classconnect/users";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import postgres from "postgres";
import { type RunningGateway, readGatewayConfig, startGateway } from "../src/index.js";

/** The first administrator every test system is configured with. */
export { at, courseInput, DAY } from "./fixtures.js";

export const FIRST_ADMIN = { email: "root@classconnect.test", password: "first-admin-password" };

export interface TestUser {
  userId: string;
  email: string;
  password: string;
  token: string;
  /** Call options carrying the user's access token. */
  auth: { headers: Record<string, string> };
}

export interface SystemOptions {
  /** Extra gateway settings. */
  gateway?: Record<string, string>;
  /** The e-mail channel of the notifications service (default: an in-memory mailbox). */
  email?: EmailSender;
  /** The push channel of the notifications service (default: an in-memory recorder). */
  push?: PushSender;
  /** A PostgreSQL server of the suite's own (default: the shared test server). */
  pgUrl?: string;
}

export interface System {
  gateway: RunningGateway;
  url: string;
  adminKey: SigningKey;
  /** E-mails the notifications service sent, when it uses the default mailbox. */
  mailbox: EmailMessage[];
  /** Pushes recorded by the notifications service. */
  pushes: { tokens: string[]; message: { title: string; body: string } }[];
  /** Where each service listens (inside the test process). */
  urls: { users: string; courses: string; notifications: string; admin: string };
  /** Where the services store blobs (BLOB_DIR), for assertions on stored files. */
  blobDir: string;
  /** Each service's database, for assertions on stored state (outbox, counters). */
  databases: { users: string; courses: string; notifications: string; admin: string };
  /** A client of `service` through the gateway (gRPC over h2c). */
  client<T extends DescService>(service: T): Client<T>;
  /** A client calling one service directly as another ClassConnect service (internal access). */
  internalClient<T extends DescService>(
    service: T,
    upstream: "users" | "courses" | "notifications" | "admin",
  ): Client<T>;
  /** A new user registered through the gateway, signed in; opted in to notifications unless `notificationsOptIn` is false. */
  register(overrides?: {
    firstName?: string;
    lastName?: string;
    notificationsOptIn?: boolean;
    /**
     * Whether the address is confirmed (default true), as after the activation PIN, so that
     * notices reach it by e-mail. Set in the users database directly: the PIN flow itself is
     * tested in services/users/test/auth.test.ts.
     */
    verified?: boolean;
  }): Promise<TestUser>;
  /**
   * The courses service's clock, which tests can move forward to reach due
   * times and exam time limits without waiting (a fake clock: only the
   * passage of time is simulated; everything else is real).
   */
  clock: { advance(ms: number): void };
  /**
   * Runs the courses service's deadline-reminder sweep now, on its clock (it runs by itself
   * only hourly here); returns for how many assessments it recorded reminders.
   */
  remindDeadlines(): Promise<number>;
  /** Hands in the exam attempts whose time is up, now (the courses service does every 30 s). */
  handInExpiredExams(): Promise<number>;
  /** Stops the notifications service (its port stays reserved) and starts it again. */
  /** The notifications service, which keeps inbox items and finished events 30 days here. */
  notifications: { stop(): Promise<void>; start(): Promise<void>; pruneOld(): Promise<number> };
  /** Call options with the first admin's token (one session, signed in at the first call). */
  adminAuth(): Promise<{ headers: Record<string, string> }>;
  /** Waits until `check` passes (polling), for effects that arrive asynchronously. */
  eventually<T>(check: () => Promise<T> | T, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

export async function startSystem(opts: SystemOptions = {}): Promise<System> {
  let clockOffset = 0;
  const ports = {
    users: await freePort(),
    courses: await freePort(),
    notifications: await freePort(),
    admin: await freePort(),
    gateway: await freePort(),
  };
  const url = (port: number) => `http://127.0.0.1:${port}`;
  const blobDir = temporaryDirectory("sys-blobs");
  const shared = {
    SERVICE_TOKEN: TEST_SERVICE_TOKEN,
    BLOB_DIR: blobDir,
    BLOB_PUBLIC_URL: `http://127.0.0.1:${ports.gateway}/blobs`,
    BLOB_SIGNING_KEY: "blob-signing-key-for-tests",
    USERS_SERVICE_URL: url(ports.users),
    COURSES_SERVICE_URL: url(ports.courses),
    NOTIFICATIONS_SERVICE_URL: url(ports.notifications),
    ADMIN_SERVICE_URL: url(ports.admin),
  };
  const databases = {
    users: await createTestDatabase("sys_users", opts.pgUrl),
    courses: await createTestDatabase("sys_courses", opts.pgUrl),
    notifications: await createTestDatabase("sys_notifications", opts.pgUrl),
    admin: await createTestDatabase("sys_admin", opts.pgUrl),
  };
  const adminKey = await loadSigningKey();
  // Real admin tokens (from the admin service's JWKS) and the test key both verify.
  const adminKeys = combineKeySources(
    createStaticKeySource([adminKey.publicJwk]),
    adminKeySource(url(ports.admin)),
  );
  const fastOutbox = { pollMs: 50, baseDelayMs: 50 };

  const users = await startUsersServer(
    readUsersConfig({ ...shared, USERS_PORT: String(ports.users), USERS_DATABASE_URL: databases.users }),
    { logger: testLogger("users"), adminKeys, outbox: fastOutbox },
  );
  const courses = await startCoursesServer(
    readCoursesConfig({
      ...shared,
      COURSES_PORT: String(ports.courses),
      COURSES_DATABASE_URL: databases.courses,
    }),
    {
      logger: testLogger("courses"),
      adminKeys,
      outbox: fastOutbox,
      now: () => new Date(Date.now() + clockOffset),
      reminderPollMs: 3_600_000,
      examHandInPollMs: 3_600_000,
    },
  );
  const mailbox = createMailbox(testLogger("notifications"));
  const push = createPushRecorder(testLogger("notifications"));
  const notificationsConfig = readNotificationsConfig({
    ...shared,
    NOTIFICATIONS_PORT: String(ports.notifications),
    NOTIFICATIONS_DATABASE_URL: databases.notifications,
    NOTIFICATIONS_RETENTION_DAYS: "30",
  });
  let notifications: NotificationsServer | undefined;
  const startNotifications = async () => {
    notifications = await startNotificationsServer(notificationsConfig, {
      logger: testLogger("notifications"),
      adminKeys,
      email: opts.email ?? mailbox,
      push: opts.push ?? push,
      retry: { baseDelayMs: 20, maxDelayMs: 500, pollMs: 50, leaseMs: 10_000 },
    });
  };
  await startNotifications();
  const admin = await startAdminServer(
    readAdminConfig({
      ...shared,
      ADMIN_PORT: String(ports.admin),
      ADMIN_DATABASE_URL: databases.admin,
      CLASSCONNECT_ADMIN_EMAIL: FIRST_ADMIN.email,
      CLASSCONNECT_ADMIN_PASSWORD: FIRST_ADMIN.password,
    }),
    { logger: testLogger("admin"), adminKeys, outbox: fastOutbox },
  );
  const gateway = await startGateway(
    readGatewayConfig({
      GATEWAY_PORT: String(ports.gateway),
      BLOB_DIR: blobDir,
      BLOB_SIGNING_KEY: shared.BLOB_SIGNING_KEY,
      USERS_SERVICE_URL: users.url,
      COURSES_SERVICE_URL: courses.url,
      NOTIFICATIONS_SERVICE_URL: url(ports.notifications),
      ADMIN_SERVICE_URL: admin.url,
      // Suites register many users from one address; the rate-limit suite sets its own.
      AUTH_RATE_LIMIT_PER_MINUTE: "100000",
      ...opts.gateway,
    }),
    { logger: testLogger("gateway"), adminKeys },
  );
  const transport = createGrpcTransport({ baseUrl: gateway.url });
  const auth = reporting(createClient(AuthService, transport));
  let adminSession: Promise<{ headers: Record<string, string> }> | undefined;
  const usersSql = postgres(databases.users, { max: 1, onnotice: () => {} });
  return {
    gateway,
    url: gateway.url,
    adminKey,
    mailbox: mailbox.messages,
    pushes: push.sent,
    databases,
    blobDir,
    urls: {
      users: url(ports.users),
      courses: url(ports.courses),
      notifications: url(ports.notifications),
      admin: url(ports.admin),
    },
    clock: {
      advance(ms) {
        clockOffset += ms;
      },
    },
    remindDeadlines: () => courses.remindDeadlines(),
    handInExpiredExams: () => courses.handInExpiredExams(),
    notifications: {
      async stop() {
        await notifications?.close();
        notifications = undefined;
      },
      start: startNotifications,
      pruneOld: async () => (notifications ? notifications.pruneOld() : 0),
    },
    client: (service) => reporting(createClient(service, transport)),
    internalClient: (service, upstream) =>
      reporting(createServiceClient(service, url(ports[upstream]), TEST_SERVICE_TOKEN)),
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
        notificationsOptIn: overrides.notificationsOptIn ?? true,
      });
      const token = res.session!.accessToken;
      if (overrides.verified ?? true) {
        await usersSql`update users set email_verified = true where id = ${res.user!.id}`;
      }
      return {
        userId: res.user!.id,
        email,
        password,
        token,
        auth: { headers: { authorization: `Bearer ${token}` } },
      };
    },
    adminAuth() {
      // A real session (the services check admin sessions), signed in once per system.
      const session =
        adminSession ??
        createClient(AdminAuthService, transport)
          .login(FIRST_ADMIN)
          .then((res) => ({ headers: { authorization: `Bearer ${res.accessToken}` } }));
      adminSession = session;
      return session;
    },
    async eventually(check, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          return await check();
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    async close() {
      await gateway.close();
      await Promise.all([
        users.close(),
        courses.close(),
        notifications?.close(),
        admin.close(),
        usersSql.end(),
      ]);
    },
  };
}

/** The gateway alone, its upstreams pointing at a port nobody listens on. */
export async function startLoneGateway(env: Record<string, string> = {}): Promise<RunningGateway> {
  const unused = `http://127.0.0.1:${await freePort()}`;
  return startGateway(
    readGatewayConfig({
      GATEWAY_PORT: "0",
      USERS_SERVICE_URL: unused,
      COURSES_SERVICE_URL: unused,
      NOTIFICATIONS_SERVICE_URL: unused,
      ADMIN_SERVICE_URL: unused,
      ...env,
    }),
    { logger: testLogger("gateway") },
  );
}
