/**
 * The whole platform in one test process, on real sockets: the four services
 * (each with its own database on the shared embedded PostgreSQL) and the
 * gateway in front, talking gRPC over HTTP/2 exactly as in production.
 */

import { readAdminConfig, startAdminServer } from "@classconnect/admin";
import { readCoursesConfig, startCoursesServer } from "@classconnect/courses";
import { readNotificationsConfig, startNotificationsServer } from "@classconnect/notifications";
import { createStaticKeySource, loadSigningKey, type SigningKey } from "@classconnect/platform";
import { createTestDatabase, TEST_SERVICE_TOKEN, testLogger } from "@classconnect/platform/testing";
import {
  type AccountMail,
  createRecordingMailer,
  readUsersConfig,
  startUsersServer,
} from "@classconnect/users";
import { type RunningGateway, readGatewayConfig, startGateway } from "../src/index.js";

export interface System {
  gateway: RunningGateway;
  url: string;
  mail: AccountMail[];
  adminKey: SigningKey;
  close(): Promise<void>;
}

export async function startSystem(gatewayEnv: Record<string, string> = {}): Promise<System> {
  const shared = { SERVICE_TOKEN: TEST_SERVICE_TOKEN };
  const mailer = createRecordingMailer(testLogger("users"));
  const adminKey = await loadSigningKey();
  const adminKeys = createStaticKeySource([adminKey.publicJwk]);
  const users = await startUsersServer(
    readUsersConfig({
      ...shared,
      USERS_PORT: "0",
      USERS_DATABASE_URL: await createTestDatabase("sys_users"),
    }),
    { logger: testLogger("users"), mailer, adminKeys },
  );
  const withUsers = { ...shared, USERS_SERVICE_URL: users.url };
  const courses = await startCoursesServer(
    readCoursesConfig({
      ...withUsers,
      COURSES_PORT: "0",
      COURSES_DATABASE_URL: await createTestDatabase("sys_courses"),
    }),
    testLogger("courses"),
  );
  const notifications = await startNotificationsServer(
    readNotificationsConfig({
      ...withUsers,
      NOTIFICATIONS_PORT: "0",
      NOTIFICATIONS_DATABASE_URL: await createTestDatabase("sys_notifications"),
    }),
    testLogger("notifications"),
  );
  const admin = await startAdminServer(
    readAdminConfig({
      ...withUsers,
      ADMIN_PORT: "0",
      ADMIN_DATABASE_URL: await createTestDatabase("sys_admin"),
    }),
    testLogger("admin"),
  );
  const gateway = await startGateway(
    readGatewayConfig({
      GATEWAY_PORT: "0",
      USERS_SERVICE_URL: users.url,
      COURSES_SERVICE_URL: courses.url,
      NOTIFICATIONS_SERVICE_URL: notifications.url,
      ADMIN_SERVICE_URL: admin.url,
      ...gatewayEnv,
    }),
    // The admin service cannot sign in admins yet; the gateway trusts a test admin key instead.
    { logger: testLogger("gateway"), adminKeys },
  );
  return {
    gateway,
    url: gateway.url,
    mail: mailer.sent,
    adminKey,
    async close() {
      await gateway.close();
      await Promise.all([users.close(), courses.close(), notifications.close(), admin.close()]);
    },
  };
}
