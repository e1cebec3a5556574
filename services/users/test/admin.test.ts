import { randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { UserRole, UserStatus } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { errorMetadata, invalid, rejects } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startUsersHarness, type UsersHarness } from "./harness.js";

const test = suite<{ h: UsersHarness; admin: { headers: Record<string, string> } }>(
  "users: UserAdminService",
);
test.before(async (ctx) => {
  ctx.h = await startUsersHarness();
  ctx.admin = ctx.h.bearer(await ctx.h.adminToken());
});
test.after(async (ctx) => {
  await ctx.h.close();
});

const inHours = (h: number) => timestampFromDate(new Date(Date.now() + h * 3600_000));

test("BlockUser stops the user's live tokens at once and refuses logins; UnblockUser restores", async ({
  h,
  admin,
}) => {
  const u = await h.register();
  await h.users.getMe({}, h.bearer(u.accessToken));
  const blocked = await h.admin.blockUser({ userId: u.userId, until: inHours(24), reason: "spam" }, admin);
  assert.is(blocked.user?.status, UserStatus.BLOCKED);
  assert.is(blocked.user?.blockReason, "spam");
  await rejects(h.users.getMe({}, h.bearer(u.accessToken)), Code.Unauthenticated, "SESSION_INACTIVE");
  await rejects(h.auth.refreshSession({ refreshToken: u.refreshToken }), Code.Unauthenticated);
  const refused = await rejects(
    h.auth.login({ email: u.email, password: u.password }),
    Code.FailedPrecondition,
    "ACCOUNT_BLOCKED",
  );
  assert.ok(errorMetadata(refused)["blocked_until"]);
  const check = await h.admin.checkUserActive({ userId: u.userId }, h.service);
  assert.equal([check.exists, check.active], [true, false]);

  const unblocked = await h.admin.unblockUser({ userId: u.userId }, admin);
  assert.is(unblocked.user?.status, UserStatus.ACTIVE);
  const login = await h.auth.login({ email: u.email, password: u.password });
  await h.users.getMe({}, h.bearer(login.session!.accessToken));
  assert.is((await h.admin.checkUserActive({ userId: u.userId }, h.service)).active, true);
});

test("a login racing a block leaves no live session: the block lands while the password is checked", async ({
  h,
  admin,
}) => {
  let signedIn = 0;
  for (let round = 0; round < 6; round++) {
    const u = await h.register();
    const [login, block] = await Promise.allSettled([
      h.auth.login({ email: u.email, password: u.password }),
      h.admin.blockUser({ userId: u.userId, until: inHours(24), reason: "spam" }, admin),
    ]);
    assert.is(block.status, "fulfilled", `round ${round}: the block lands`);
    if (login.status === "fulfilled") {
      signedIn++;
      await rejects(h.users.getMe({}, h.bearer(login.value.session!.accessToken)), Code.Unauthenticated);
    } else {
      await rejects(Promise.reject(login.reason), Code.FailedPrecondition, "ACCOUNT_BLOCKED");
    }
    const [live] = await h.sql<{ n: number }[]>`
      select count(*)::int as n from sessions where user_id = ${u.userId} and revoked_at is null`;
    assert.is(live!.n, 0, `round ${round}: no session of the blocked user is live`);
  }
  // The two did overlap: some logins met the block (refused) instead of all finishing first.
  assert.ok(signedIn < 6, "some logins met the block");
});

test("UnblockUser and SetUserRole that change nothing tell no one", async ({ h, admin }) => {
  const u = await h.register();
  const notices = async () =>
    (
      await h.sql<{ n: number }[]>`
        select count(*)::int as n from outbox
        where event_type = 'ACCOUNT_UNBLOCKED' and recipients->'userIds' ? ${u.userId}`
    )[0]!.n;
  const before = (await h.users.getMe({}, h.bearer(u.accessToken))).user!;
  const same = await h.admin.unblockUser({ userId: u.userId }, admin);
  assert.is(same.user?.status, UserStatus.ACTIVE);
  assert.equal(same.user?.user?.updateTime, before.updateTime, "the account is untouched");
  assert.is(await notices(), 0, "no 'account unblocked' notice for an account that was not blocked");
  const member = await h.admin.setUserRole({ userId: u.userId, role: UserRole.MEMBER }, admin);
  assert.equal(member.user?.user?.updateTime, before.updateTime);

  await h.admin.blockUser({ userId: u.userId, until: inHours(1), reason: "spam" }, admin);
  await h.admin.unblockUser({ userId: u.userId }, admin);
  await h.admin.unblockUser({ userId: u.userId }, admin);
  assert.is(await notices(), 1, "one notice for one block lifted, however often it is asked");
});

test("BlockUser validates its input and unknown users", async ({ h, admin }) => {
  const u = await h.register();
  await invalid(h.admin.blockUser({ userId: u.userId, until: inHours(-1), reason: "x" }, admin), ["until"]);
  await invalid(h.admin.blockUser({ userId: u.userId, reason: "x" }, admin), ["until"]);
  await invalid(h.admin.blockUser({ userId: u.userId, until: inHours(1), reason: "" }, admin), ["reason"]);
  await invalid(h.admin.blockUser({ userId: "x", until: inHours(1), reason: "r" }, admin), ["user_id"]);
  await rejects(
    h.admin.blockUser({ userId: randomUUID(), until: inHours(1), reason: "r" }, admin),
    Code.NotFound,
  );
  await h.users.getMe({}, h.bearer(u.accessToken));
});

test("SetUserRole changes the platform role", async ({ h, admin }) => {
  const u = await h.register();
  const res = await h.admin.setUserRole({ userId: u.userId, role: UserRole.TEACHER }, admin);
  assert.is(res.user?.user?.role, UserRole.TEACHER);
  assert.is((await h.users.getMe({}, h.bearer(u.accessToken))).user?.role, UserRole.TEACHER);
  await invalid(h.admin.setUserRole({ userId: u.userId, role: UserRole.UNSPECIFIED }, admin), ["role"]);
  await invalid(h.admin.setUserRole({ userId: u.userId, role: 9 as UserRole }, admin), ["role"]);
  await rejects(h.admin.setUserRole({ userId: randomUUID(), role: UserRole.MEMBER }, admin), Code.NotFound);
  await invalid(h.admin.unblockUser({ userId: "" }, admin), ["user_id"]);
  await rejects(h.admin.unblockUser({ userId: randomUUID() }, admin), Code.NotFound);
});

test("ListUsers filters by status, role and text, newest first, paginated", async ({ h, admin }) => {
  const tag = randomUUID().slice(0, 8);
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await h.register({ email: `list-${tag}-${i}@example.com` }));
  await h.admin.blockUser({ userId: made[1]!.userId, until: inHours(2), reason: "r" }, admin);
  await h.admin.setUserRole({ userId: made[2]!.userId, role: UserRole.TEACHER }, admin);
  const all = await h.admin.listUsers({ query: tag }, admin);
  assert.equal(
    all.users.map((u) => u.user?.email),
    [2, 1, 0].map((i) => `list-${tag}-${i}@example.com`),
  );
  const blocked = await h.admin.listUsers({ query: tag, status: UserStatus.BLOCKED }, admin);
  assert.equal(
    blocked.users.map((u) => u.user?.id),
    [made[1]!.userId],
  );
  const active = await h.admin.listUsers({ query: tag, status: UserStatus.ACTIVE }, admin);
  assert.equal(
    active.users.map((u) => u.user?.id),
    [made[2]!.userId, made[0]!.userId],
  );
  const teachers = await h.admin.listUsers({ query: tag, role: UserRole.TEACHER }, admin);
  assert.equal(
    teachers.users.map((u) => u.user?.id),
    [made[2]!.userId],
  );
  const first = await h.admin.listUsers({ query: tag, pageSize: 2 }, admin);
  assert.is(first.users.length, 2);
  const second = await h.admin.listUsers({ query: tag, pageSize: 2, pageToken: first.nextPageToken }, admin);
  assert.equal(
    second.users.map((u) => u.user?.id),
    [made[0]!.userId],
  );
  assert.is(second.nextPageToken, "");
  await invalid(h.admin.listUsers({ status: 7 as UserStatus }, admin), ["status"]);
  await invalid(h.admin.listUsers({ pageSize: -1 }, admin), ["page_size"]);
});

test("admin and internal methods refuse user tokens; CheckUserActive is internal only", async ({
  h,
  admin,
}) => {
  const u = await h.register();
  const asUser = h.bearer(u.accessToken);
  const until = inHours(1);
  await rejects(h.admin.listUsers({}, asUser), Code.PermissionDenied);
  await rejects(h.admin.blockUser({ userId: u.userId, until, reason: "r" }, asUser), Code.PermissionDenied);
  await rejects(h.admin.unblockUser({ userId: u.userId }, asUser), Code.PermissionDenied);
  await rejects(
    h.admin.setUserRole({ userId: u.userId, role: UserRole.TEACHER }, asUser),
    Code.PermissionDenied,
  );
  await rejects(h.admin.checkUserActive({ userId: u.userId }, asUser), Code.PermissionDenied);
  await rejects(h.admin.checkUserActive({ userId: u.userId }, admin), Code.PermissionDenied);
  await rejects(h.admin.checkUserActive({ userId: u.userId }), Code.Unauthenticated);
  await rejects(
    h.admin.checkUserActive({ userId: u.userId }, { headers: { "x-service-token": "wrong" } }),
    Code.Unauthenticated,
  );
  const missing = await h.admin.checkUserActive({ userId: randomUUID() }, h.service);
  assert.equal([missing.exists, missing.active], [false, false]);
  await invalid(h.admin.checkUserActive({ userId: "x" }, h.service), ["user_id"]);
  assert.is((await h.users.getMe({}, asUser)).user?.role, UserRole.MEMBER);
});

test.run();
