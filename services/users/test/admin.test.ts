import { randomUUID } from "node:crypto";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { UserRole, UserStatus } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { errorMetadata, invalid, refusingInserts, rejects } from "@classconnect/platform/testing";
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

/** The audit entries the users service recorded for `userId`, oldest first. */
const auditEvents = (h: UsersHarness, userId: string) =>
  h.sql<{ id: string; data: Record<string, string> }[]>`
    select id, data from outbox
    where event_type = 'AUDIT_ENTRY' and data->>'resource_id' = ${userId} order by created_at`;

test("each change an administrator makes is recorded for the audit log, with who and exactly what", async ({
  h,
}) => {
  const adminId = randomUUID();
  const admin = h.bearer(await h.adminToken(adminId));
  const u = await h.register();
  const until = inHours(24);
  const blocked = await h.admin.blockUser({ userId: u.userId, until, reason: "spam" }, admin);
  const untilIso = timestampDate(until).toISOString();
  assert.equal(blocked.change?.action, "user.block");
  assert.equal(blocked.change?.before, { active: true, role: "MEMBER" });
  assert.equal(blocked.change?.after, {
    active: false,
    role: "MEMBER",
    blocked_until: untilIso,
    block_reason: "spam",
  });
  const role = await h.admin.setUserRole({ userId: u.userId, role: UserRole.TEACHER }, admin);
  assert.equal([role.change?.before?.["role"], role.change?.after?.["role"]], ["MEMBER", "TEACHER"]);
  // Asked again, nothing changes: no entry.
  assert.is(
    (await h.admin.setUserRole({ userId: u.userId, role: UserRole.TEACHER }, admin)).change,
    undefined,
  );
  const unblocked = await h.admin.unblockUser({ userId: u.userId }, admin);
  assert.equal(unblocked.change?.after, { active: true, role: "TEACHER" });
  assert.is((await h.admin.unblockUser({ userId: u.userId }, admin)).change, undefined);

  // Each answered change is the outbox event relayed to the admin service's log.
  const events = await auditEvents(h, u.userId);
  assert.equal(
    events.map((e) => e.id),
    [blocked.change!.id, role.change!.id, unblocked.change!.id],
  );
  assert.equal(events[0]!.data, {
    admin_id: adminId,
    action: "user.block",
    resource_type: "user",
    resource_id: u.userId,
    before: JSON.stringify(blocked.change!.before),
    after: JSON.stringify(blocked.change!.after),
  });
  assert.ok(events.every((e) => e.data["admin_id"] === adminId));
});

test("the admin service names the administrator it acts for; no one else may", async ({ h, admin }) => {
  const u = await h.register();
  const adminId = randomUUID();
  const until = inHours(1);
  // An internal caller must say for whom: refused, and nothing changes.
  await invalid(h.admin.blockUser({ userId: u.userId, until, reason: "r" }, h.service), ["acting_admin_id"]);
  await invalid(
    h.admin.blockUser({ userId: u.userId, until, reason: "r", actingAdminId: "someone" }, h.service),
    ["acting_admin_id"],
  );
  // An administrator acts for themselves, not for another.
  await invalid(
    h.admin.setUserRole({ userId: u.userId, role: UserRole.TEACHER, actingAdminId: adminId }, admin),
    ["acting_admin_id"],
  );
  await invalid(h.admin.unblockUser({ userId: u.userId, actingAdminId: adminId }, admin), [
    "acting_admin_id",
  ]);
  // A user or no one at all cannot.
  await rejects(h.admin.unblockUser({ userId: u.userId }, h.bearer(u.accessToken)), Code.PermissionDenied);
  await rejects(h.admin.unblockUser({ userId: u.userId }), Code.Unauthenticated);
  assert.is((await h.users.getMe({}, h.bearer(u.accessToken))).user?.role, UserRole.MEMBER);
  assert.is((await auditEvents(h, u.userId)).length, 0);

  const own = randomUUID();
  await h.admin.setUserRole(
    { userId: u.userId, role: UserRole.TEACHER, actingAdminId: own },
    h.bearer(await h.adminToken(own)),
  );
  await h.admin.blockUser({ userId: u.userId, until, reason: "r", actingAdminId: adminId }, h.service);
  assert.equal(
    (await auditEvents(h, u.userId)).map((e) => [e.data["action"], e.data["admin_id"]]),
    [
      ["user.set_role", own],
      ["user.block", adminId],
    ],
  );
});

test("a change whose audit entry cannot be recorded does not happen", async ({ h, admin }) => {
  const u = await h.register();
  await refusingInserts(
    h.sql,
    "outbox",
    async () => {
      await rejects(
        h.admin.blockUser({ userId: u.userId, until: inHours(1), reason: "r" }, admin),
        Code.Internal,
      );
      await rejects(h.admin.setUserRole({ userId: u.userId, role: UserRole.TEACHER }, admin), Code.Internal);
    },
    "new.event_type = 'AUDIT_ENTRY'",
  );
  // Not blocked, sessions alive, role unchanged, and the user was told nothing.
  const me = (await h.users.getMe({}, h.bearer(u.accessToken))).user!;
  assert.is(me.role, UserRole.MEMBER);
  assert.is((await h.admin.checkUserActive({ userId: u.userId }, h.service)).active, true);
  const [told] = await h.sql<{ n: number }[]>`
    select count(*)::int as n from outbox where recipients->'userIds' ? ${u.userId}`;
  assert.is(told!.n, 0);
});

test("administrators changing one user at once each record the state they found and left", async ({ h }) => {
  const u = await h.register();
  const admins = await Promise.all([1, 2, 3, 4, 5, 6].map(async () => h.bearer(await h.adminToken())));
  // Six different blocks at once: every state they leave is distinct.
  await Promise.all(
    admins.map((admin, i) =>
      h.admin.blockUser({ userId: u.userId, until: inHours(i + 1), reason: `r${i}` }, admin),
    ),
  );
  // Replayed from the first state, each entry starts from the state another left: one chain.
  const events = await h.sql<{ before: string; after: string }[]>`
    select data->>'before' as before, data->>'after' as after from outbox
    where event_type = 'AUDIT_ENTRY' and data->>'resource_id' = ${u.userId}`;
  assert.is(events.length, 6);
  const transitions = new Map(events.map((e) => [e.before, e.after]));
  assert.is(transitions.size, 6, "no two entries start from the same state");
  let state = JSON.stringify({ active: true, role: "MEMBER" });
  for (let i = 0; i < 6; i++) state = transitions.get(state) ?? "(no entry starts here)";
  const [row] = await h.sql<
    { reason: string }[]
  >`select block_reason as reason from users where id = ${u.userId}`;
  assert.is(JSON.parse(state).block_reason, row!.reason, "the chain ends at the user's state");
});

test.run();
