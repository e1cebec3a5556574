import { randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { UserAdminService } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import { ErrorInfoSchema } from "@classconnect/gen/google/rpc/error_details_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "@classconnect/gen/grpc/health/v1/health_pb.js";
import { ADMIN_TOKEN_ISSUER, signAccessToken } from "@classconnect/platform";
import { connectErrorOf } from "@classconnect/platform/testing";
import { Code, type ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type System, startSystem } from "./system.js";

const test = suite<{ sys: System }>("gateway: end to end");
test.before(async (ctx) => {
  ctx.sys = await startSystem({
    gateway: { AUTH_RATE_LIMIT_PER_MINUTE: "1000", MAX_REQUEST_BYTES: String(1024 * 1024) },
  });
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

async function postJson(sys: System, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${sys.url}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies of several shapes, read by known field names.
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function expectCode(promise: Promise<unknown>, code: Code): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    const e = connectErrorOf(err);
    assert.is(Code[e.code], Code[code], e.rawMessage);
    return e;
  }
  throw new Error(`expected ${Code[code]}`);
}

test("health answers SERVING over Connect JSON (HTTP/1.1) and gRPC (h2c)", async ({ sys }) => {
  const res = await postJson(sys, "grpc.health.v1.Health/Check", {});
  assert.equal(res, { status: 200, body: { status: "SERVING" } });
  const grpc = createClient(Health, createGrpcTransport({ baseUrl: sys.url }));
  assert.is((await grpc.check({})).status, HealthCheckResponse_ServingStatus.SERVING);
  const users = await grpc.check({ service: "classconnect.users.v1.UserService" });
  assert.is(users.status, HealthCheckResponse_ServingStatus.SERVING);
  const unknown = await grpc.check({ service: "nope.v1.Nothing" });
  assert.is(unknown.status, HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN);
});

test("a service that is down shows in its own health, not in the gateway's", async ({ sys }) => {
  const grpc = createClient(Health, createGrpcTransport({ baseUrl: sys.url }));
  const notifications = { service: "classconnect.notifications.v1.NotificationService" };
  await sys.notifications.stop();
  try {
    assert.is((await grpc.check(notifications)).status, HealthCheckResponse_ServingStatus.NOT_SERVING);
    // The gateway stays ready and alive: other services' calls still go through it.
    assert.is((await grpc.check({})).status, HealthCheckResponse_ServingStatus.SERVING);
    assert.is((await grpc.check({ service: "liveness" })).status, HealthCheckResponse_ServingStatus.SERVING);
    const users = await grpc.check({ service: "classconnect.users.v1.UserService" });
    assert.is(users.status, HealthCheckResponse_ServingStatus.SERVING);
  } finally {
    await sys.notifications.start();
  }
  assert.is((await grpc.check(notifications)).status, HealthCheckResponse_ServingStatus.SERVING);
});

test("Register → Login → GetMe over Connect JSON", async ({ sys }) => {
  const email = `e2e-${randomUUID().slice(0, 8)}@example.com`;
  const reg = await postJson(sys, "classconnect.users.v1.AuthService/Register", {
    email,
    password: "password-e2e",
    firstName: "Edsger",
    lastName: "Dijkstra",
    location: "Austin",
    acceptTerms: true,
  });
  assert.is(reg.status, 200);
  assert.is(reg.body["user"].email, email);
  const login = await postJson(sys, "classconnect.users.v1.AuthService/Login", {
    email,
    password: "password-e2e",
  });
  assert.is(login.status, 200);
  const token = login.body["session"].accessToken as string;
  const me = await postJson(
    sys,
    "classconnect.users.v1.UserService/GetMe",
    {},
    { authorization: `Bearer ${token}` },
  );
  assert.is(me.status, 200);
  assert.is(me.body["user"].firstName, "Edsger");
  const anonymous = await postJson(sys, "classconnect.users.v1.UserService/GetMe", {});
  assert.is(anonymous.status, 401);
  assert.is(anonymous.body["code"], "unauthenticated");
  const bad = await postJson(sys, "classconnect.users.v1.AuthService/Register", { email: "x" });
  assert.is(bad.status, 400);
  assert.is(bad.body["code"], "invalid_argument");
});

const transports: [string, (url: string) => Transport][] = [
  [
    "Connect binary over HTTP/2",
    (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
  ],
  ["Connect JSON over HTTP/1.1", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
  ["gRPC over h2c", (baseUrl) => createGrpcTransport({ baseUrl })],
  ["gRPC-Web over HTTP/1.1", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
];

for (const [name, make] of transports) {
  test(`the same flow over ${name}, errors and details intact`, async ({ sys }) => {
    const transport = make(sys.url);
    const auth = createClient(AuthService, transport);
    const users = createClient(UserService, transport);
    const email = `t-${randomUUID().slice(0, 8)}@example.com`;
    await auth.register({
      email,
      password: "password-xyz",
      firstName: "T",
      lastName: "T",
      location: "L",
      acceptTerms: true,
    });
    const login = await auth.login({ email, password: "password-xyz" });
    const headers = { authorization: `Bearer ${login.session!.accessToken}` };
    assert.is((await users.getMe({}, { headers })).user?.email, email);
    const dup = await expectCode(
      auth.register({
        email,
        password: "password-xyz",
        firstName: "T",
        lastName: "T",
        location: "L",
        acceptTerms: true,
      }),
      Code.AlreadyExists,
    );
    assert.is(dup.findDetails(ErrorInfoSchema)[0]?.reason, "EMAIL_TAKEN");
  });
}

test("internal-only methods are refused from outside, even with a service credential", async ({ sys }) => {
  const admin = createClient(UserAdminService, createGrpcTransport({ baseUrl: sys.url }));
  const e = await expectCode(
    admin.checkUserActive(
      { userId: randomUUID() },
      { headers: { "x-service-token": "test-service-token-0123456789abcdef" } },
    ),
    Code.PermissionDenied,
  );
  assert.is(e.findDetails(ErrorInfoSchema)[0]?.reason, "INTERNAL_METHOD");
});

test("admin methods refuse user tokens and anonymous callers; admin tokens pass", async ({ sys }) => {
  const transport = createGrpcTransport({ baseUrl: sys.url });
  const auth = createClient(AuthService, transport);
  const admin = createClient(UserAdminService, transport);
  const users = createClient(UserService, transport);
  const email = `blk-${randomUUID().slice(0, 8)}@example.com`;
  const reg = await auth.register({
    email,
    password: "password-blk",
    firstName: "B",
    lastName: "B",
    location: "L",
    acceptTerms: true,
  });
  const asUser = { headers: { authorization: `Bearer ${reg.session!.accessToken}` } };
  await expectCode(admin.listUsers({}, asUser), Code.PermissionDenied);
  await expectCode(admin.listUsers({}), Code.Unauthenticated);
  const adminToken = (
    await signAccessToken(
      sys.adminKey,
      ADMIN_TOKEN_ISSUER,
      { sub: randomUUID(), sid: randomUUID(), typ: "admin" },
      300,
    )
  ).token;
  const asAdmin = { headers: { authorization: `Bearer ${adminToken}` } };
  await expectCode(users.getMe({}, asAdmin), Code.PermissionDenied);
  // Blocking takes effect on the user's very next call through the gateway.
  await users.getMe({}, asUser);
  await admin.blockUser(
    { userId: reg.user!.id, until: timestampFromDate(new Date(Date.now() + 3600_000)), reason: "test" },
    asAdmin,
  );
  await expectCode(users.getMe({}, asUser), Code.Unauthenticated);
  await expectCode(auth.login({ email, password: "password-blk" }), Code.FailedPrecondition);
  await admin.unblockUser({ userId: reg.user!.id }, asAdmin);
  await auth.login({ email, password: "password-blk" });
});

test("CORS preflight and response headers for browsers", async ({ sys }) => {
  const preflight = await fetch(`${sys.url}/classconnect.users.v1.AuthService/Login`, {
    method: "OPTIONS",
    headers: {
      origin: "https://app.example.com",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type,connect-protocol-version,authorization",
    },
  });
  assert.is(preflight.status, 204);
  assert.is(preflight.headers.get("access-control-allow-origin"), "*");
  assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /authorization/);
  assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /POST/);
  const res = await fetch(`${sys.url}/grpc.health.v1.Health/Check`, {
    method: "POST",
    headers: { origin: "https://app.example.com", "content-type": "application/json" },
    body: "{}",
  });
  assert.is(res.headers.get("access-control-allow-origin"), "*");
  assert.match(res.headers.get("access-control-expose-headers") ?? "", /grpc-status/i);
  assert.match(res.headers.get("access-control-expose-headers") ?? "", /retry-after/i);
});

test("requests over the size limit are refused without reaching the service", async ({ sys }) => {
  const res = await postJson(sys, "classconnect.users.v1.AuthService/Login", {
    email: "x@example.com",
    password: "p".repeat(2 * 1024 * 1024),
  });
  assert.is(res.body["code"], "resource_exhausted");
  const binary = createClient(UserService, createGrpcTransport({ baseUrl: sys.url }));
  await expectCode(
    binary.uploadAvatar({ content: new Uint8Array(1024 * 1024 + 10) }),
    Code.ResourceExhausted,
  );
});

test("unknown paths answer 404", async ({ sys }) => {
  const res = await fetch(`${sys.url}/classconnect.nope.v1.Nothing/Do`, { method: "POST", body: "{}" });
  assert.is(res.status, 404);
  await res.body?.cancel();
});

test.run();

const limited = suite<{ sys: System }>("gateway: rate limit on sign-in calls");
limited.before(async (ctx) => {
  // Behind one proxy: X-Forwarded-For's last entry is the client's address.
  ctx.sys = await startSystem({ gateway: { AUTH_RATE_LIMIT_PER_MINUTE: "3", TRUST_PROXY: "1" } });
});
limited.after(async (ctx) => {
  await ctx.sys?.close();
});
limited(
  "the 4th Login from one address within a minute is RESOURCE_EXHAUSTED; other calls pass",
  async ({ sys }) => {
    const transport = createConnectTransport({ baseUrl: sys.url, httpVersion: "1.1" });
    const auth = createClient(AuthService, transport);
    for (let i = 0; i < 3; i++) {
      await expectCode(auth.login({ email: "who@example.com", password: "nope" }), Code.Unauthenticated);
    }
    const e = await expectCode(
      auth.login({ email: "who@example.com", password: "nope" }),
      Code.ResourceExhausted,
    );
    const info = e.findDetails(ErrorInfoSchema)[0];
    assert.is(info?.reason, "RATE_LIMITED");
    assert.ok(Number(info?.metadata["retry_after_seconds"]) >= 1);
    // The same wait in HTTP's own words, for clients and proxies that read only headers.
    assert.is(e.metadata.get("retry-after"), info?.metadata["retry_after_seconds"]);
    await auth.getJwks({});
    await expectCode(auth.register({ email: "x" } as never), Code.ResourceExhausted);
  },
);
limited(
  "behind a trusted proxy, the address it appended counts: entries the caller wrote to its left do not",
  async ({ sys }) => {
    const auth = createClient(AuthService, createConnectTransport({ baseUrl: sys.url, httpVersion: "1.1" }));
    const from = (forwardedFor: string) => ({ headers: { "x-forwarded-for": forwardedFor } });
    // A new e-mail each time, so that the users service's own lockout stays out of it.
    const login = () => ({ email: `${randomUUID()}@example.com`, password: "nope" });
    for (let i = 0; i < 3; i++) {
      await expectCode(auth.login(login(), from(`198.51.100.${i}, 203.0.113.7`)), Code.Unauthenticated);
    }
    const e = await expectCode(
      auth.login(login(), from("198.51.100.99, 203.0.113.7")),
      Code.ResourceExhausted,
    );
    assert.is(e.findDetails(ErrorInfoSchema)[0]?.reason, "RATE_LIMITED");
    // Another client behind the same proxy has its own allowance.
    await expectCode(auth.login(login(), from("203.0.113.8")), Code.Unauthenticated);
    // One IPv6 host: a new address of its /64 for every call gains no allowance.
    for (let i = 1; i <= 3; i++) {
      await expectCode(auth.login(login(), from(`2001:db8:7:7::${i}`)), Code.Unauthenticated);
    }
    await expectCode(auth.login(login(), from("2001:db8:7:7:a:b:c:d")), Code.ResourceExhausted);
    await expectCode(auth.login(login(), from("2001:db8:7:8::1")), Code.Unauthenticated);
  },
);
limited.run();
