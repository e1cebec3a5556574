/**
 * A session that ends (logout, blocked user) stops working on every service,
 * not only on the users service: each service long-polls the users service's
 * list of revoked sessions (AuthService.ListRevokedSessions, answered as soon as
 * a session is revoked) and refuses such a token although its signature and
 * expiry are still valid.
 */
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RuleService } from "@classconnect/gen/classconnect/admin/v1/rule_service_pb.js";
import { UserManagementService } from "@classconnect/gen/classconnect/admin/v1/user_management_service_pb.js";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import { ErrorInfoSchema } from "@classconnect/gen/google/rpc/error_details_pb.js";
import { connectErrorOf } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type System, startSystem, type TestUser } from "./system.js";

const test = suite<{ sys: System }>("revoked sessions are refused everywhere");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

type Auth = TestUser["auth"];

/** One user-level read on each service, through the gateway. */
function callsOnEveryService(sys: System): Record<string, (auth: Auth) => Promise<unknown>> {
  return {
    users: (auth) => sys.client(UserService).getMe({}, auth),
    courses: (auth) => sys.client(CourseService).listMyCourses({}, auth),
    notifications: (auth) => sys.client(NotificationService).getPreferences({}, auth),
    admin: (auth) => sys.client(RuleService).listRules({}, auth),
  };
}

async function refusalOf(call: Promise<unknown>): Promise<{ code: Code; reason: string } | "accepted"> {
  try {
    await call;
    return "accepted";
  } catch (err) {
    const e = connectErrorOf(err);
    return { code: e.code, reason: e.findDetails(ErrorInfoSchema)[0]?.reason ?? "" };
  }
}

async function expectRefusedEverywhere(sys: System, auth: Auth) {
  for (const [service, call] of Object.entries(callsOnEveryService(sys))) {
    // Revocations reach the other services when their held call is answered.
    await sys.eventually(async () => {
      assert.equal(
        await refusalOf(call(auth)),
        { code: Code.Unauthenticated, reason: "SESSION_INACTIVE" },
        `${service} refuses the ended session`,
      );
    }, 3_000);
  }
}

async function expectAcceptedEverywhere(sys: System, auth: Auth) {
  for (const [service, call] of Object.entries(callsOnEveryService(sys))) {
    assert.is(await refusalOf(call(auth)), "accepted", `${service} accepts a live session`);
  }
}

test("after logout the access token is refused by every service; a new login works", async ({ sys }) => {
  const user = await sys.register();
  const other = await sys.register();
  await expectAcceptedEverywhere(sys, user.auth);
  const login = await sys.client(AuthService).login({ email: user.email, password: user.password });
  await sys.client(AuthService).logout(
    { refreshToken: login.session!.refreshToken },
    {
      headers: { authorization: `Bearer ${login.session!.accessToken}` },
    },
  );
  await expectRefusedEverywhere(sys, { headers: { authorization: `Bearer ${login.session!.accessToken}` } });
  // Only that session ended: the registration session and other users are untouched.
  await expectAcceptedEverywhere(sys, user.auth);
  await expectAcceptedEverywhere(sys, other.auth);
});

test("a blocked user's live token is refused by every service; unblocked, they sign in again", async ({
  sys,
}) => {
  const user = await sys.register();
  await expectAcceptedEverywhere(sys, user.auth);
  const admin = await sys.adminAuth();
  const manage = sys.client(UserManagementService);
  await manage.blockUser(
    { userId: user.userId, until: timestampFromDate(new Date(Date.now() + 3_600_000)), reason: "abuse" },
    admin,
  );
  await expectRefusedEverywhere(sys, user.auth);
  await manage.unblockUser({ userId: user.userId }, admin);
  // Unblocking does not revive ended sessions; signing in again does.
  await expectRefusedEverywhere(sys, user.auth);
  const again = await sys.client(AuthService).login({ email: user.email, password: user.password });
  await expectAcceptedEverywhere(sys, { headers: { authorization: `Bearer ${again.session!.accessToken}` } });
});

test("the revoked-session list is internal: refused through the gateway, to users and without credentials", async ({
  sys,
}) => {
  const user = await sys.register();
  const list = (auth?: Auth) => sys.client(AuthService).listRevokedSessions({}, auth);
  assert.equal(await refusalOf(list(user.auth)), { code: Code.PermissionDenied, reason: "INTERNAL_METHOD" });
  assert.equal(await refusalOf(list()), { code: Code.PermissionDenied, reason: "INTERNAL_METHOD" });
  // Inside ClassConnect, with the service credential, it lists the sessions revoked within
  // the token lifetime (the earlier tests ended some), each with when it can be forgotten.
  const internal = sys.internalClient(AuthService, "users");
  const all = await internal.listRevokedSessions({});
  assert.ok(all.sessions.length >= 2, `revocations listed: ${all.sessions.length}`);
  for (const s of all.sessions) {
    assert.ok(s.sessionId && s.revokeTime && s.expireTime);
    assert.ok(
      timestampDate(s.expireTime!) > timestampDate(s.revokeTime!),
      "forgotten only after it was revoked",
    );
  }
  // Asking from the read time on lists only what was revoked since.
  const none = await internal.listRevokedSessions({ since: all.readTime });
  assert.equal(none.sessions, []);
});

test.run();
