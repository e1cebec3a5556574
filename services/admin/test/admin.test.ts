import { randomUUID } from "node:crypto";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { at, courseInput, DAY, FIRST_ADMIN, type System, startSystem } from "@classconnect/gateway/testing";
import { AdminAuthService } from "@classconnect/gen/classconnect/admin/v1/admin_auth_service_pb.js";
import { AuditService } from "@classconnect/gen/classconnect/admin/v1/audit_service_pb.js";
import { PlatformService } from "@classconnect/gen/classconnect/admin/v1/platform_service_pb.js";
import { RuleService } from "@classconnect/gen/classconnect/admin/v1/rule_service_pb.js";
import { UserManagementService } from "@classconnect/gen/classconnect/admin/v1/user_management_service_pb.js";
import {
  AssessmentKind,
  LatePolicy,
  QuestionKind,
} from "@classconnect/gen/classconnect/courses/v1/assessment_pb.js";
import { AssessmentService } from "@classconnect/gen/classconnect/courses/v1/assessment_service_pb.js";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { StatisticsService } from "@classconnect/gen/classconnect/courses/v1/statistics_service_pb.js";
import { SubmissionService } from "@classconnect/gen/classconnect/courses/v1/submission_service_pb.js";
import { DeliveryLogService } from "@classconnect/gen/classconnect/notifications/v1/delivery_log_service_pb.js";
import {
  Channel,
  DeliveryStatus,
  EventType,
} from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { UserAdminService } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import { UserRole, UserStatus } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import { ADMIN_TOKEN_ISSUER, createServiceClient, signAccessToken } from "@classconnect/platform";
import { invalid, refusingInserts, rejects, TEST_SERVICE_TOKEN } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const HOUR = 3600_000;
const inMs = (ms: number) => timestampFromDate(new Date(Date.now() + ms));

/** A field of an audit snapshot (google.protobuf.Struct arrives as a JSON object). */
const field = (snapshot: unknown, name: string) => (snapshot as Record<string, unknown> | undefined)?.[name];

const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

const test = suite<{ sys: System; root: { headers: Record<string, string> }; rootId: string }>(
  "admin: end to end",
);
test.before(async (ctx) => {
  ctx.sys = await startSystem();
  const login = await ctx.sys.client(AdminAuthService).login(FIRST_ADMIN);
  ctx.root = bearer(login.accessToken);
  ctx.rootId = login.admin!.id;
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

test("the configured admin signs in (1 h token), creates a second admin who can sign in too", async ({
  sys,
  root,
}) => {
  const auth = sys.client(AdminAuthService);
  const login = await auth.login(FIRST_ADMIN);
  const ttl = Number(login.accessTokenExpireTime!.seconds) * 1000 - Date.now();
  assert.ok(ttl > 59 * 60_000 && ttl <= 60 * 60_000 + 1000, "one hour");
  const created = await auth.createAdmin(
    { email: "Second@ClassConnect.test", name: "Second", password: "second-admin-pass" },
    root,
  );
  assert.is(created.admin?.email, "second@classconnect.test");
  const second = await auth.login({ email: "second@classconnect.test", password: "second-admin-pass" });
  assert.ok(second.accessToken);
  await rejects(
    auth.createAdmin({ email: "second@classconnect.test", name: "Dup", password: "second-admin-pass" }, root),
    Code.AlreadyExists,
  );
  await rejects(
    auth.createAdmin({ email: "x@classconnect.test", name: "Short", password: "short" }, root),
    Code.InvalidArgument,
  );
  const listed = await auth.listAdmins({}, bearer(second.accessToken));
  assert.equal(
    listed.admins.map((a) => a.email),
    [FIRST_ADMIN.email, "second@classconnect.test"],
  );
  const { keys } = await auth.getJwks({});
  assert.is(keys[0]?.alg, "EdDSA");
});

test("an admin changes their password with the current one; audited; wrong ones count toward the lock", async ({
  sys,
  root,
}) => {
  const auth = sys.client(AdminAuthService);
  const email = `pw-${randomUUID().slice(0, 8)}@classconnect.test`;
  await auth.createAdmin({ email, name: "Rotating", password: "first-admin-password" }, root);
  const me = bearer((await auth.login({ email, password: "first-admin-password" })).accessToken);
  const change = (
    currentPassword: string,
    newPassword: string,
    as: { headers: Record<string, string> } = me,
  ) => auth.changePassword({ currentPassword, newPassword }, as);
  await invalid(change("first-admin-password", "too short"), ["new_password"]);
  await invalid(change("first-admin-password", "first-admin-password"), ["new_password"]);
  await invalid(change("", "second-admin-password"), ["current_password"]);
  await rejects(change("a wrong password", "second-admin-password"), Code.InvalidArgument, "WRONG_PASSWORD");
  await rejects(
    change("first-admin-password", "second-admin-password", { headers: {} }),
    Code.Unauthenticated,
  );
  const user = await sys.register();
  await rejects(change("first-admin-password", "second-admin-password", user.auth), Code.PermissionDenied);
  // Another session of the same admin, say an attacker's who knew the old password.
  const other = bearer((await auth.login({ email, password: "first-admin-password" })).accessToken);
  await expectAdminSession(sys, other, "live");

  await change("first-admin-password", "second-admin-password");
  // That session ends everywhere; the one that changed the password goes on.
  await expectAdminSession(sys, other, "ended");
  await expectAdminSession(sys, me, "live");
  await rejects(auth.login({ email, password: "first-admin-password" }), Code.Unauthenticated);
  const again = await auth.login({ email, password: "second-admin-password" });
  const entries = (await sys.client(AuditService).listAuditEntries({ resourceId: again.admin!.id }, root))
    .entries;
  assert.equal(
    entries.map((e) => [e.action, e.adminId]),
    [
      ["admin.password_change", again.admin!.id],
      [
        "admin.create",
        (await auth.listAdmins({}, root)).admins.find((a) => a.email === FIRST_ADMIN.email)!.id,
      ],
    ],
  );
  // Four wrong current passwords, then the fifth locks the account, sign-in included.
  for (let i = 0; i < 4; i++) {
    await rejects(change(`wrong-${i}`, "third-admin-password"), Code.InvalidArgument, "WRONG_PASSWORD");
  }
  await rejects(change("wrong-5", "third-admin-password"), Code.ResourceExhausted, "LOGIN_LOCKED");
  await rejects(
    auth.login({ email, password: "second-admin-password" }),
    Code.ResourceExhausted,
    "LOGIN_LOCKED",
  );
});

/** The admin-token calls of each service that takes them. */
const adminCalls = (sys: System) => ({
  admin: (as: Auth) => sys.client(AdminAuthService).listAdmins({}, as),
  users: (as: Auth) => sys.client(UserAdminService).listUsers({ pageSize: 1 }, as),
  notifications: (as: Auth) => sys.client(DeliveryLogService).listDeliveries({ pageSize: 1 }, as),
});
type Auth = { headers: Record<string, string> };

/** Every service takes the session ("live"), or refuses it as ended ("ended": at once on admin, soon on the others). */
async function expectAdminSession(sys: System, as: Auth, state: "live" | "ended") {
  for (const [service, call] of Object.entries(adminCalls(sys))) {
    if (state === "live") {
      await call(as);
      continue;
    }
    const check = () => rejects(call(as), Code.Unauthenticated, "SESSION_INACTIVE");
    // The admin service checks its own sessions; the others hear of the end from it.
    await (service === "admin" ? check() : sys.eventually(check, 5_000));
  }
}

/** The `sid` claim of an access token. */
const sessionOf = (as: Auth) =>
  JSON.parse(Buffer.from(as.headers["authorization"]!.split(".")[1]!, "base64url").toString()).sid as string;

test("an admin's logout ends that session on every service at once; their other sessions stay", async ({
  sys,
  root,
}) => {
  const auth = sys.client(AdminAuthService);
  const email = `out-${randomUUID().slice(0, 8)}@classconnect.test`;
  await auth.createAdmin({ email, name: "Leaving", password: "logout-admin-password" }, root);
  const signIn = async () =>
    bearer((await auth.login({ email, password: "logout-admin-password" })).accessToken);
  const [laptop, phone] = [await signIn(), await signIn()];
  assert.is.not(sessionOf(laptop), sessionOf(phone));
  await expectAdminSession(sys, laptop, "live");

  const revoked = sys.internalClient(AdminAuthService, "admin");
  const before = await revoked.listRevokedSessions({});
  assert.not.ok(before.sessions.some((s) => s.sessionId === sessionOf(laptop)));
  // A held call (as each service makes) is answered by the logout, long before its 60 s.
  const held = revoked.listRevokedSessions(
    { since: before.readTime, wait: { seconds: 60n }, known: 0 },
    { timeoutMs: 15_000 },
  );
  await auth.logout({}, laptop);
  const answered = await held;
  assert.ok(answered.sessions.some((s) => s.sessionId === sessionOf(laptop)));
  const listed = answered.sessions.find((s) => s.sessionId === sessionOf(laptop))!;
  assert.ok(Number(listed.expireTime!.seconds) * 1000 > Date.now(), "listed until its token expires");

  await expectAdminSession(sys, laptop, "ended");
  await expectAdminSession(sys, phone, "live");
  await rejects(auth.logout({}, laptop), Code.Unauthenticated, "SESSION_INACTIVE");
  await rejects(auth.logout({}), Code.Unauthenticated);
  await rejects(auth.logout({}, (await sys.register()).auth), Code.PermissionDenied);
  // Internal only, and its wait is bounded.
  await rejects(auth.listRevokedSessions({}, phone), Code.PermissionDenied);
  await invalid(revoked.listRevokedSessions({ wait: { seconds: 61n } }), ["wait"]);
  // Signing in again opens a new session.
  await expectAdminSession(sys, await signIn(), "live");
  // A validly signed admin token is still refused without a session (no `sid`), or with
  // one the admin service never opened.
  const admin = (await auth.listAdmins({}, root)).admins.find((a) => a.email === email)!;
  const forge = async (sid?: string) =>
    bearer(
      (
        await signAccessToken(
          sys.adminKey,
          ADMIN_TOKEN_ISSUER,
          { sub: admin.id, typ: "admin", ...(sid ? { sid } : {}) },
          600,
        )
      ).token,
    );
  await rejects(auth.listAdmins({}, await forge()), Code.Unauthenticated, "TOKEN_INVALID");
  await rejects(auth.listAdmins({}, await forge(randomUUID())), Code.Unauthenticated, "SESSION_INACTIVE");
});

test("an admin disables another (sessions end everywhere, no sign-in) and enables them again; audited", async ({
  sys,
  root,
  rootId,
}) => {
  const auth = sys.client(AdminAuthService);
  const email = `off-${randomUUID().slice(0, 8)}@classconnect.test`;
  const password = "disabled-admin-password";
  const { admin } = await auth.createAdmin({ email, name: "Departing", password }, root);
  const adminId = admin!.id;
  const session = bearer((await auth.login({ email, password })).accessToken);
  await expectAdminSession(sys, session, "live");

  // Refused: no token, a user, bad input, unknown, oneself.
  await rejects(auth.disableAdmin({ adminId }), Code.Unauthenticated);
  await rejects(auth.disableAdmin({ adminId }, (await sys.register()).auth), Code.PermissionDenied);
  await invalid(auth.disableAdmin({ adminId: "nobody" }, root), ["admin_id"]);
  await rejects(auth.disableAdmin({ adminId: randomUUID() }, root), Code.NotFound);
  await rejects(auth.disableAdmin({ adminId }, session), Code.FailedPrecondition, "CANNOT_DISABLE_SELF");
  await rejects(auth.enableAdmin({ adminId: randomUUID() }, root), Code.NotFound);
  await invalid(auth.enableAdmin({ adminId: "nobody" }, root), ["admin_id"]);
  await rejects(auth.enableAdmin({ adminId }), Code.Unauthenticated);
  await expectAdminSession(sys, session, "live");

  const disabled = (await auth.disableAdmin({ adminId }, root)).admin!;
  assert.ok(disabled.disableTime, "disabled");
  await expectAdminSession(sys, session, "ended");
  // The right password says the account is disabled; a wrong one says nothing more.
  await rejects(auth.login({ email, password }), Code.FailedPrecondition, "ADMIN_DISABLED");
  await rejects(auth.login({ email, password: "not-the-password" }), Code.Unauthenticated);
  assert.ok(
    (await auth.listAdmins({ pageSize: 100 }, root)).admins.find((a) => a.id === adminId)?.disableTime,
  );
  // Again: nothing changes, nothing more is audited.
  assert.equal((await auth.disableAdmin({ adminId }, root)).admin!.disableTime, disabled.disableTime);

  const enabled = (await auth.enableAdmin({ adminId }, root)).admin!;
  assert.is(enabled.disableTime, undefined);
  // The ended session stays ended; a new sign-in works.
  await rejects(auth.listAdmins({}, session), Code.Unauthenticated, "SESSION_INACTIVE");
  await expectAdminSession(sys, bearer((await auth.login({ email, password })).accessToken), "live");

  const entries = (await sys.client(AuditService).listAuditEntries({ resourceId: adminId }, root)).entries;
  assert.equal(
    entries.map((e) => [e.action, e.adminId, field(e.before, "disabled"), field(e.after, "disabled")]),
    [
      ["admin.enable", rootId, true, false],
      ["admin.disable", rootId, false, true],
      ["admin.create", rootId, undefined, undefined],
    ],
  );
});

test("admin logins lock after 5 failures; unknown e-mails answer the same", async ({ sys }) => {
  const auth = sys.client(AdminAuthService);
  const wrong = await rejects(
    auth.login({ email: FIRST_ADMIN.email, password: "nope" }),
    Code.Unauthenticated,
    "INVALID_CREDENTIALS",
  );
  const unknown = await rejects(
    auth.login({ email: "ghost@classconnect.test", password: "nope" }),
    Code.Unauthenticated,
    "INVALID_CREDENTIALS",
  );
  assert.is(wrong!.rawMessage, unknown!.rawMessage);
  for (let i = 0; i < 3; i++)
    await rejects(auth.login({ email: "ghost@classconnect.test", password: "nope" }), Code.Unauthenticated);
  await rejects(
    auth.login({ email: "ghost@classconnect.test", password: "nope" }),
    Code.ResourceExhausted,
    "LOGIN_LOCKED",
  );
});

test("blocking a user ends their session at once and their next login; unblocking restores; all audited", async ({
  sys,
  root,
  rootId,
}) => {
  const manage = sys.client(UserManagementService);
  const user = await sys.register();
  await sys.client(UserService).getMe({}, user.auth);
  const blocked = await manage.blockUser(
    { userId: user.userId, until: inMs(24 * HOUR), reason: "abuse" },
    root,
  );
  assert.is(blocked.user?.status, UserStatus.BLOCKED);
  await rejects(sys.client(UserService).getMe({}, user.auth), Code.Unauthenticated);
  await rejects(
    sys.client(AuthService).login({ email: user.email, password: user.password }),
    Code.FailedPrecondition,
    "ACCOUNT_BLOCKED",
  );
  await manage.unblockUser({ userId: user.userId }, root);
  const again = await sys.client(AuthService).login({ email: user.email, password: user.password });
  await sys.client(UserService).getMe({}, bearer(again.session!.accessToken));
  await manage.setUserRole({ userId: user.userId, role: UserRole.TEACHER }, root);
  // Asked again, they change nothing and leave no entry.
  await manage.unblockUser({ userId: user.userId }, root);
  await manage.setUserRole({ userId: user.userId, role: UserRole.TEACHER }, root);

  const entries = (await sys.client(AuditService).listAuditEntries({ resourceId: user.userId }, root))
    .entries;
  await invalid(sys.client(AuditService).listAuditEntries({ fromTime: inMs(0), toTime: inMs(-DAY) }, root), [
    "to_time",
  ]);
  assert.equal(
    entries.map((e) => e.action),
    ["user.set_role", "user.unblock", "user.block"],
  );
  assert.ok(entries.every((e) => e.adminId === rootId && e.resourceType === "user"));
  const block = entries[2]!;
  assert.equal([field(block.before, "active"), field(block.after, "active")], [true, false]);
  const role = entries[0]!;
  assert.equal([field(role.before, "role"), field(role.after, "role")], ["MEMBER", "TEACHER"]);
  // The user was told, through the notifications service.
  await sys.eventually(async () => {
    const inbox = await sys
      .client(NotificationService)
      .listNotifications({}, bearer(again.session!.accessToken));
    assert.ok(inbox.notifications.some((n) => n.eventType === EventType.ACCOUNT_UNBLOCKED));
  });
  const listed = await manage.listUsers({ query: user.email.slice(0, 12), role: UserRole.TEACHER }, root);
  assert.equal(
    listed.users.map((u) => u.user?.id),
    [user.userId],
  );
  await rejects(
    manage.blockUser({ userId: randomUUID(), until: inMs(HOUR), reason: "r" }, root),
    Code.NotFound,
  );
  await rejects(
    manage.blockUser({ userId: user.userId, until: inMs(-HOUR), reason: "r" }, root),
    Code.InvalidArgument,
  );
});

test("a block and its end reach by e-mail a user who never opted in; the preferences do not offer them", async ({
  sys,
  root,
}) => {
  const manage = sys.client(UserManagementService);
  const notifications = sys.client(NotificationService);
  const user = await sys.register({ notificationsOptIn: false });
  const prefs = (await notifications.getPreferences({}, user.auth)).preferences!;
  assert.equal([prefs.emailEnabled, prefs.pushEnabled], [false, false]);
  assert.ok(prefs.events.length > 0);
  assert.not.ok(
    prefs.events.some((e) => [EventType.ACCOUNT_BLOCKED, EventType.ACCOUNT_UNBLOCKED].includes(e.eventType)),
  );
  await rejects(
    notifications.updatePreferences(
      { preferences: { events: [{ eventType: EventType.ACCOUNT_BLOCKED, email: false }] } },
      user.auth,
    ),
    Code.InvalidArgument,
  );
  const mailTo = (subject: string) => sys.mailbox.filter((m) => m.to === user.email && m.subject === subject);
  await manage.blockUser({ userId: user.userId, until: inMs(24 * HOUR), reason: "spam" }, root);
  await sys.eventually(async () => {
    const [mail] = mailTo("Account blocked — ClassConnect");
    assert.ok(mail, "the block notice was e-mailed");
    assert.match(mail.text, ": spam");
  });
  await manage.unblockUser({ userId: user.userId }, root);
  await sys.eventually(async () => assert.is(mailTo("Account unblocked — ClassConnect").length, 1));
  // Other events still follow the opt-in: no e-mail for an enrollment.
  const teacher = await sys.register();
  const course = (await sys.client(CourseService).createCourse({ course: courseInput() }, teacher.auth))
    .course!;
  const again = await sys.client(AuthService).login({ email: user.email, password: user.password });
  await sys.client(EnrollmentService).enroll({ courseId: course.id }, bearer(again.session!.accessToken));
  const log = await sys.eventually(async () => {
    const res = await sys
      .client(DeliveryLogService)
      .listDeliveries({ recipientId: user.userId, eventType: EventType.ENROLLED }, root);
    assert.is(res.deliveries.length, 2);
    return res;
  });
  assert.equal(
    log.deliveries.find((d) => d.channel === Channel.EMAIL)?.status,
    DeliveryStatus.SKIPPED_BY_PREFERENCE,
  );
});

test("rules: created (future effective time), edited with before/after in the audit, published to every user", async ({
  sys,
  root,
}) => {
  const rules = sys.client(RuleService);
  const reader = await sys.register();
  await rejects(
    rules.createRule({ rule: { title: "Past", description: "d", effectiveTime: inMs(-HOUR) } }, root),
    Code.InvalidArgument,
  );
  await rejects(
    rules.createRule({ rule: { title: "", description: "d", effectiveTime: inMs(HOUR) } }, root),
    Code.InvalidArgument,
  );
  // A missing rule or time is named once, by its own rule, not again as "not in the future".
  await invalid(rules.createRule({}, root), ["rule"]);
  await invalid(rules.createRule({ rule: { title: "No time", description: "d" } }, root), [
    "rule.effective_time",
  ]);
  const created = (
    await rules.createRule(
      {
        rule: {
          title: "Be kind",
          description: "No harassment",
          effectiveTime: inMs(2 * HOUR),
          conditions: ["applies to forums"],
        },
      },
      root,
    )
  ).rule!;
  const edited = (
    await rules.updateRule(
      { ruleId: created.id, rule: { title: "Be kind to everyone" }, updateMask: { paths: ["title"] } },
      root,
    )
  ).rule!;
  assert.is(edited.title, "Be kind to everyone");
  assert.is(edited.description, "No harassment");
  await rejects(
    rules.updateRule(
      { ruleId: created.id, rule: { effectiveTime: inMs(-HOUR) }, updateMask: { paths: ["effective_time"] } },
      root,
    ),
    Code.InvalidArgument,
  );
  await rejects(
    rules.updateRule({ ruleId: created.id, updateMask: { paths: ["created_by"] } }, root),
    Code.InvalidArgument,
  );
  // A mask without a rule clears what it names, which is validated like any other value.
  // Named as CreateRule names them: under the request's `rule`.
  await invalid(rules.updateRule({ ruleId: created.id, updateMask: { paths: ["title"] } }, root), [
    "rule.title",
  ]);
  await invalid(rules.updateRule({ ruleId: created.id, updateMask: { paths: ["effective_time"] } }, root), [
    "rule.effective_time",
  ]);
  const [update] = (
    await sys.client(AuditService).listAuditEntries({ resourceId: created.id, action: "rule.update" }, root)
  ).entries;
  assert.equal(
    [
      (update?.before as Record<string, unknown> | undefined)?.["title"],
      (update?.after as Record<string, unknown> | undefined)?.["title"],
    ],
    ["Be kind", "Be kind to everyone"],
  );

  // Not in force yet: announced to users, who can read it (the notice links to it), and
  // left out when they ask for the rules in force.
  const asRead = (await rules.getRule({ ruleId: created.id }, reader.auth)).rule!;
  assert.is(asRead.title, "Be kind to everyone");
  const listed = (await rules.listRules({}, reader.auth)).rules.find((r) => r.id === created.id);
  assert.ok(listed);
  // Which administrator wrote a rule is for administrators: users get the rule without it.
  assert.equal([asRead.createdBy, listed.createdBy], ["", ""]);
  assert.is((await rules.getRule({ ruleId: created.id }, root)).rule?.createdBy, created.createdBy);
  assert.ok(created.createdBy, "the author's id is kept");
  for (const caller of [reader.auth, root]) {
    assert.equal(
      (await rules.listRules({ inForceOnly: true }, caller)).rules.filter((r) => r.id === created.id),
      [],
    );
  }
  assert.is((await rules.getRule({ ruleId: created.id }, root)).rule?.id, created.id);
  const inForce = (
    await rules.createRule({ rule: { title: "Soon", description: "d", effectiveTime: inMs(1500) } }, root)
  ).rule!;
  await new Promise((r) => setTimeout(r, 1600));
  assert.ok(
    (await rules.listRules({ inForceOnly: true }, reader.auth)).rules.some((r) => r.id === inForce.id),
  );
  await rejects(
    rules.createRule(
      { rule: { title: "By user", description: "d", effectiveTime: inMs(HOUR) } },
      reader.auth,
    ),
    Code.PermissionDenied,
  );
  await sys.eventually(async () => {
    const inbox = await sys.client(NotificationService).listNotifications({}, reader.auth);
    assert.ok(
      inbox.notifications.some(
        (n) => n.eventType === EventType.RULE_PUBLISHED && n.body.startsWith('"Be kind" takes effect '),
      ),
    );
  });
  await rules.deleteRule({ ruleId: created.id }, root);
  await rejects(rules.getRule({ ruleId: created.id }, root), Code.NotFound);
  await rejects(rules.getRule({ ruleId: created.id }, reader.auth), Code.NotFound);
  await rejects(rules.deleteRule({ ruleId: created.id }, root), Code.NotFound);
});

test("users are told when a rule moves, when an admin wants them told of a change, and when it is withdrawn", async ({
  sys,
  root,
}) => {
  const rules = sys.client(RuleService);
  const reader = await sys.register();
  const sql = postgres(sys.databases.admin, { max: 1, onnotice: () => {} });
  /** The notices recorded about a rule, oldest first. */
  const noticesOf = async (ruleId: string) =>
    (
      await sql<{ event_type: string; recipients: unknown; data: Record<string, string> }[]>`
        select event_type, recipients, data from outbox where data->>'rule_id' = ${ruleId}
        order by created_at`
    ).map((e) => ({ type: e.event_type, recipients: e.recipients, data: e.data }));
  const typesOf = async (ruleId: string) => (await noticesOf(ruleId)).map((n) => n.type);
  try {
    const first = inMs(2 * HOUR);
    const rule = (
      await rules.createRule({ rule: { title: "Quiet hours", description: "d", effectiveTime: first } }, root)
    ).rule!;
    const update = (
      changes: { title?: string; conditions?: string[]; effectiveTime?: typeof first },
      paths: string[],
      caller: { headers: Record<string, string> } = root,
      notifyUsers = false,
    ) => rules.updateRule({ ruleId: rule.id, rule: changes, updateMask: { paths }, notifyUsers }, caller);

    // A typo fix, or the same effective time written again, tells no one.
    await update({ title: "Quiet hours!" }, ["title"]);
    await update({ effectiveTime: first }, ["effective_time"]);
    // Nor does a change that is refused: by a user, without a token, with bad input, or of no rule.
    const moved = inMs(3 * HOUR);
    await rejects(update({ effectiveTime: moved }, ["effective_time"], reader.auth), Code.PermissionDenied);
    await rejects(
      update({ effectiveTime: moved }, ["effective_time"], { headers: {} }),
      Code.Unauthenticated,
    );
    await rejects(
      update({ effectiveTime: inMs(-HOUR) }, ["effective_time"], root, true),
      Code.InvalidArgument,
    );
    await invalid(update({}, ["title"], root, true), ["rule.title"]);
    await rejects(
      rules.updateRule(
        { ruleId: randomUUID(), rule: { effectiveTime: moved }, updateMask: { paths: ["effective_time"] } },
        root,
      ),
      Code.NotFound,
    );
    await rejects(rules.deleteRule({ ruleId: rule.id }, reader.auth), Code.PermissionDenied);
    assert.equal(await typesOf(rule.id), ["RULE_PUBLISHED"]);

    // A moved effective time is always told, with the time it replaces.
    await update({ effectiveTime: moved }, ["effective_time"]);
    const [, movedNotice] = await noticesOf(rule.id);
    assert.equal(movedNotice, {
      type: "RULE_UPDATED",
      recipients: { allUsers: true },
      data: {
        rule_id: rule.id,
        rule_title: "Quiet hours!",
        effective_time: timestampDate(moved).toISOString(),
        previous_effective_time: timestampDate(first).toISOString(),
      },
    });
    // Another change is told when the admin asks, under the new title and naming the old one.
    await update({ title: "Night rest", conditions: ["from 22:00"] }, ["title", "conditions"], root, true);
    const [, , changedNotice] = await noticesOf(rule.id);
    assert.equal(changedNotice?.data, {
      rule_id: rule.id,
      rule_title: "Night rest",
      effective_time: timestampDate(moved).toISOString(),
      previous_rule_title: "Quiet hours!",
    });

    // Deleting it before it takes effect tells everyone it will not; one in force, that it no
    // longer applies.
    await rules.deleteRule({ ruleId: rule.id }, root);
    const withdrawn = (await noticesOf(rule.id)).slice(3);
    assert.equal(
      withdrawn.map((n) => [n.type, n.data["rule_title"], n.data["was_in_force"]]),
      [["RULE_WITHDRAWN", "Night rest", "false"]],
    );
    await rejects(rules.deleteRule({ ruleId: rule.id }, root), Code.NotFound);
    assert.is((await noticesOf(rule.id)).length, 4, "a second delete tells no one");
    const soon = (
      await rules.createRule(
        { rule: { title: "In force", description: "d", effectiveTime: inMs(800) } },
        root,
      )
    ).rule!;
    await new Promise((r) => setTimeout(r, 900));
    await rules.deleteRule({ ruleId: soon.id }, root);
    assert.equal(
      (await noticesOf(soon.id)).map((n) => [n.type, n.data["was_in_force"]]),
      [
        ["RULE_PUBLISHED", undefined],
        ["RULE_WITHDRAWN", "true"],
      ],
    );

    // Every user reads them in the inbox.
    await sys.eventually(async () => {
      const inbox = await sys.client(NotificationService).listNotifications({}, reader.auth);
      const bodies = inbox.notifications
        .filter((n) => n.eventType === EventType.RULE_UPDATED || n.eventType === EventType.RULE_WITHDRAWN)
        .map((n) => n.body);
      assert.ok(
        bodies.some((b) => /^"Quiet hours!" now takes effect .+ \(instead of .+\)\.$/.test(b)),
        bodies.join(),
      );
      assert.ok(bodies.includes('"Night rest" (until now "Quiet hours!") was changed; read what is new.'));
      assert.ok(bodies.includes('"Night rest" was withdrawn and will not take effect.'));
      assert.ok(bodies.includes('"In force" was withdrawn and no longer applies.'));
    });
  } finally {
    await sql.end();
  }
});

test("platform figures: users, courses and work, deliveries; now and in a period", async ({ sys, root }) => {
  const platform = sys.client(PlatformService);
  const before = await platform.getPlatformFigures({}, root);
  const span = Number(before.toTime!.seconds - before.fromTime!.seconds);
  assert.is(span, 30 * 86_400, "the last 30 days by default");

  // A course with a student who hands in a task that is graded; one user blocked.
  const [teacher, student, blocked] = [await sys.register(), await sys.register(), await sys.register()];
  const course = (await sys.client(CourseService).createCourse({ course: courseInput() }, teacher.auth))
    .course!;
  await sys.client(EnrollmentService).enroll({ courseId: course.id }, student.auth);
  const assessments = sys.client(AssessmentService);
  const task = (
    await assessments.createAssessment(
      {
        courseId: course.id,
        assessment: {
          kind: AssessmentKind.TASK,
          title: "Figures homework",
          dueTime: at(3 * DAY),
          latePolicy: LatePolicy.ACCEPT_FLAGGED,
          questions: [{ id: "q", kind: QuestionKind.FREE_TEXT, prompt: "p", points: 1 }],
        },
      },
      teacher.auth,
    )
  ).assessment!;
  await assessments.publishAssessment({ assessmentId: task.id }, teacher.auth);
  const submissions = sys.client(SubmissionService);
  const handedIn = (
    await submissions.submitAssessment(
      { assessmentId: task.id, answers: [{ questionId: "q", text: "42" }] },
      student.auth,
    )
  ).submission!;
  await submissions.gradeSubmission(
    { submissionId: handedIn.id, scores: [{ questionId: "q", score: 1 }] },
    teacher.auth,
  );
  await sys
    .client(UserManagementService)
    .blockUser({ userId: blocked.userId, until: inMs(HOUR), reason: "figures" }, root);
  // The enrollment notice reaches the student's inbox (an in-app delivery, sent).
  await sys.eventually(async () => {
    const inbox = await sys.client(NotificationService).listNotifications({}, student.auth);
    assert.ok(inbox.notifications.some((n) => n.eventType === EventType.ENROLLED));
  });

  const after = await platform.getPlatformFigures({}, root);
  const grew = (a: object | undefined, b: object | undefined) =>
    Object.fromEntries(
      Object.entries(b ?? {})
        .filter(([, v]) => typeof v === "bigint")
        .map(([k, v]) => [k, Number((v as bigint) - ((a as Record<string, bigint> | undefined)?.[k] ?? 0n))]),
    );
  assert.equal(grew(before.users, after.users), {
    total: 3,
    active: 2,
    blocked: 1,
    emailVerified: 3, // sys.register confirms each address
    registered: 3,
  });
  assert.equal(grew(before.courses, after.courses), {
    courses: 1,
    activeCourses: 1,
    finishedCourses: 0,
    coursesCreated: 1,
    enrollments: 1,
    enrollmentsMade: 1,
    publishedAssessments: 1,
    submissions: 1,
    graded: 1,
  });
  const sentInApp = (f: typeof after) =>
    f.deliveries.find((d) => d.channel === Channel.IN_APP && d.status === DeliveryStatus.SENT)?.count ?? 0n;
  assert.ok(sentInApp(after) > sentInApp(before), "in-app deliveries counted");

  // A period in the future: nothing happened in it, and the totals stay.
  const laterFrom = inMs(HOUR);
  const later = await platform.getPlatformFigures({ fromTime: laterFrom, toTime: inMs(2 * HOUR) }, root);
  assert.equal(
    [later.users?.registered, later.courses?.coursesCreated, later.courses?.submissions, later.deliveries],
    [0n, 0n, 0n, []],
  );
  assert.equal([later.users?.total, later.courses?.courses], [after.users?.total, after.courses?.courses]);
  assert.equal(later.fromTime?.seconds, laterFrom.seconds);

  assert.equal(after.unavailable, []);

  // With the notifications service down, the rest is still given and the missing part named.
  await sys.notifications.stop();
  try {
    const partial = await platform.getPlatformFigures({}, root);
    assert.equal(partial.unavailable, ["notifications"]);
    assert.equal(partial.deliveries, []);
    assert.equal(
      [partial.users?.total, partial.courses?.courses],
      [after.users?.total, after.courses?.courses],
    );
  } finally {
    await sys.notifications.start();
  }

  // Refused: a period that ends before it starts, a user, no token.
  await invalid(platform.getPlatformFigures({ fromTime: inMs(HOUR), toTime: inMs(0) }, root), ["to_time"]);
  await rejects(platform.getPlatformFigures({}, teacher.auth), Code.PermissionDenied);
  await rejects(platform.getPlatformFigures({}), Code.Unauthenticated);
});

test("each service's figures are for services only, and want a whole period", async ({ sys, root }) => {
  const period = { period: { fromTime: inMs(-HOUR), toTime: inMs(0) } };
  const calls = [
    [UserAdminService, "getUserFigures", sys.urls.users],
    [StatisticsService, "getPlatformCourseFigures", sys.urls.courses],
    [DeliveryLogService, "getDeliveryFigures", sys.urls.notifications],
  ] as const;
  const user = await sys.register();
  for (const [service, method, url] of calls) {
    const direct = createServiceClient(service, url, TEST_SERVICE_TOKEN) as unknown as Record<
      string,
      (req: object, opts?: object) => Promise<unknown>
    >;
    await direct[method]!(period);
    const { fromTime, toTime } = period.period;
    await invalid(direct[method]!({}), ["period"]);
    await invalid(direct[method]!({ period: { toTime } }), ["period.from_time"]);
    await invalid(direct[method]!({ period: { fromTime: toTime, toTime: fromTime } }), ["period.to_time"]);
    // Through the gateway, neither an admin nor a user reaches them.
    const viaGateway = sys.client(service) as unknown as Record<
      string,
      (req: object, opts?: object) => Promise<unknown>
    >;
    await rejects(viaGateway[method]!(period, root), Code.PermissionDenied);
    await rejects(viaGateway[method]!(period, user.auth), Code.PermissionDenied);
  }
});

test("an admin's change whose audit entry (or a rule's announcement) cannot be written does not happen", async ({
  sys,
  root,
}) => {
  const rules = sys.client(RuleService);
  const kept = (
    await rules.createRule({ rule: { title: "Kept", description: "d", effectiveTime: inMs(HOUR) } }, root)
  ).rule!;
  const auth = sys.client(AdminAuthService);
  const colleague = {
    email: `kept-${randomUUID().slice(0, 8)}@classconnect.test`,
    password: "kept-admin-password",
  };
  const { admin } = await auth.createAdmin({ ...colleague, name: "Kept" }, root);
  const sql = postgres(sys.databases.admin, { max: 1, onnotice: () => {} });
  const titled = async (title: string) =>
    (await sql<{ n: number }[]>`select count(*)::int as n from rules where title = ${title}`)[0]!.n;
  try {
    await refusingInserts(sql, "audit_entries", async () => {
      const unaudited = { title: "Unaudited", description: "d", effectiveTime: inMs(HOUR) };
      await rejects(rules.createRule({ rule: unaudited }, root), Code.Internal);
      await rejects(
        rules.updateRule(
          { ruleId: kept.id, rule: { title: "Changed" }, updateMask: { paths: ["title"] } },
          root,
        ),
        Code.Internal,
      );
      await rejects(rules.deleteRule({ ruleId: kept.id }, root), Code.Internal);
      assert.is(await titled("Unaudited"), 0, "no rule without its audit entry");
      assert.is(
        (await rules.getRule({ ruleId: kept.id }, root)).rule?.title,
        "Kept",
        "not edited, not deleted",
      );
      // Nor an administrator created, disabled or given a new password without its entry.
      const unauditedAdmin = `unaudited-${randomUUID().slice(0, 8)}@classconnect.test`;
      await rejects(
        auth.createAdmin({ email: unauditedAdmin, name: "U", password: "unaudited-password" }, root),
        Code.Internal,
      );
      await rejects(auth.disableAdmin({ adminId: admin!.id }, root), Code.Internal);
      const session = bearer((await auth.login(colleague)).accessToken);
      await rejects(
        auth.changePassword(
          { currentPassword: colleague.password, newPassword: "another-admin-password" },
          session,
        ),
        Code.Internal,
      );
      const [made] = await sql<
        { n: number }[]
      >`select count(*)::int as n from admins where email = ${unauditedAdmin}`;
      assert.is(made?.n, 0, "no admin without its audit entry");
      await expectAdminSession(sys, session, "live");
    });
    await auth.login(colleague); // still enabled, and still with the old password

    // A rule nobody is told about is not created either (and leaves no audit entry).
    await refusingInserts(sql, "outbox", async () => {
      const audit = sys.client(AuditService);
      const entries = (await audit.listAuditEntries({ pageSize: 1 }, root)).entries;
      const unannounced = { title: "Unannounced", description: "d", effectiveTime: inMs(HOUR) };
      await rejects(rules.createRule({ rule: unannounced }, root), Code.Internal);
      assert.is(await titled("Unannounced"), 0);
      // Nor moved or withdrawn without telling users.
      await rejects(
        rules.updateRule(
          {
            ruleId: kept.id,
            rule: { effectiveTime: inMs(2 * HOUR) },
            updateMask: { paths: ["effective_time"] },
          },
          root,
        ),
        Code.Internal,
      );
      await rejects(rules.deleteRule({ ruleId: kept.id }, root), Code.Internal);
      assert.equal(
        (await rules.getRule({ ruleId: kept.id }, root)).rule?.effectiveTime,
        kept.effectiveTime,
        "neither moved nor deleted",
      );
      const after = (await audit.listAuditEntries({ pageSize: 1 }, root)).entries;
      assert.is(after[0]?.sequence, entries[0]?.sequence, "no audit entry for it");
    });
  } finally {
    await sql.end();
  }
  // Once the database takes writes again, so do the rules.
  await rules.updateRule(
    { ruleId: kept.id, rule: { title: "Edited" }, updateMask: { paths: ["title"] } },
    root,
  );
  await rules.deleteRule({ ruleId: kept.id }, root);
});

test("admins editing one rule at once each record the rule they found and left", async ({ sys, root }) => {
  const rules = sys.client(RuleService);
  const rule = (
    await rules.createRule({ rule: { title: "t", description: "d", effectiveTime: inMs(HOUR) } }, root)
  ).rule!;
  await Promise.all(
    [0, 1, 2, 3, 4, 5].map((i) =>
      rules.updateRule({ ruleId: rule.id, rule: { title: `t${i}` }, updateMask: { paths: ["title"] } }, root),
    ),
  );
  const entries = (
    await sys.client(AuditService).listAuditEntries({ resourceId: rule.id, action: "rule.update" }, root)
  ).entries.reverse();
  assert.equal(
    entries.map((e) => field(e.before, "title")),
    ["t", ...entries.slice(0, -1).map((e) => field(e.after, "title"))],
    "each edit starts from the title the one before left",
  );
  const deleted = await Promise.allSettled([0, 1, 2].map(() => rules.deleteRule({ ruleId: rule.id }, root)));
  assert.is(deleted.filter((d) => d.status === "fulfilled").length, 1);
  const [deletion, ...more] = (
    await sys.client(AuditService).listAuditEntries({ resourceId: rule.id, action: "rule.delete" }, root)
  ).entries;
  assert.is(more.length, 0);
  assert.is(field(deletion!.before, "title"), field(entries.at(-1)!.after, "title"), "the rule as deleted");
});

/** A new user, and the audit log's entries about them, newest first. */
async function userToAudit(sys: System, root: { headers: Record<string, string> }) {
  const user = await sys.register();
  const audit = sys.client(AuditService);
  const entriesOf = async () => (await audit.listAuditEntries({ resourceId: user.userId }, root)).entries;
  return { user, audit, entriesOf };
}

test("a change an admin makes straight at the users service is audited too, relayed once", async ({
  sys,
  root,
  rootId,
}) => {
  const { user, audit, entriesOf } = await userToAudit(sys, root);
  // UserAdminService, called through the gateway with an admin's token: no admin service in between.
  const res = await sys
    .client(UserAdminService)
    .blockUser({ userId: user.userId, until: inMs(HOUR), reason: "direct" }, root);
  assert.ok(res.change?.id);
  const [entry] = await sys.eventually(async () => {
    const entries = await entriesOf();
    assert.is(entries.length, 1);
    return entries;
  });
  assert.equal(
    [entry!.adminId, entry!.action, entry!.resourceType, field(entry!.after, "block_reason")],
    [rootId, "user.block", "user", "direct"],
  );

  // Through the admin service, the entry is in the log on return; the relay then adds nothing.
  await sys.client(UserManagementService).unblockUser({ userId: user.userId }, root);
  assert.equal(
    (await entriesOf()).map((e) => e.action),
    ["user.unblock", "user.block"],
  );
  const sql = postgres(sys.databases.users, { max: 1, onnotice: () => {} });
  try {
    await sys.eventually(async () => {
      const [pending] = await sql<{ n: number }[]>`
        select count(*)::int as n from outbox
        where event_type = 'AUDIT_ENTRY' and data->>'resource_id' = ${user.userId} and published_at is null`;
      assert.is(pending!.n, 0, "both entries were relayed");
    });
  } finally {
    await sql.end();
  }
  assert.is((await entriesOf()).length, 2);
  assert.is((await audit.verifyAuditChain({}, root)).valid, true);
});

test("a change through the admin service stands when its entry cannot be appended at once; the relay appends it", async ({
  sys,
  root,
  rootId,
}) => {
  const { user, audit, entriesOf } = await userToAudit(sys, root);
  const sql = postgres(sys.databases.admin, { max: 1, onnotice: () => {} });
  try {
    await refusingInserts(sql, "audit_entries", async () => {
      // The users service has blocked the user, with the entry in its outbox: the caller is told so.
      const res = await sys
        .client(UserManagementService)
        .blockUser({ userId: user.userId, until: inMs(HOUR), reason: "appended later" }, root);
      assert.is(res.user?.status, UserStatus.BLOCKED);
      assert.is((await entriesOf()).length, 0, "not in the log yet");
    });
  } finally {
    await sql.end();
  }
  const [entry, ...more] = await sys.eventually(async () => {
    const entries = await entriesOf();
    assert.is(entries.length, 1);
    return entries;
  });
  assert.is(more.length, 0);
  assert.equal(
    [entry!.adminId, entry!.action, field(entry!.after, "block_reason")],
    [rootId, "user.block", "appended later"],
  );
  assert.is((await audit.verifyAuditChain({}, root)).valid, true);
});

test("RecordAuditEntry appends once per entry id, takes only internal callers and checks its input", async ({
  sys,
  root,
}) => {
  const internal = sys.internalClient(AuditService, "admin");
  const entry = {
    entryId: randomUUID(),
    adminId: randomUUID(),
    action: "user.set_role",
    resourceType: "user",
    resourceId: randomUUID(),
    before: { role: "MEMBER" },
    after: { role: "TEACHER" },
  };
  const first = (await internal.recordAuditEntry(entry)).entry!;
  const again = (await internal.recordAuditEntry({ ...entry, action: "user.block" })).entry!;
  assert.equal([again.sequence, again.hash, again.action], [first.sequence, first.hash, "user.set_role"]);
  assert.equal(field(first.after, "role"), "TEACHER");
  const listed = await sys.client(AuditService).listAuditEntries({ resourceId: entry.resourceId }, root);
  assert.is(listed.entries.length, 1);

  const fresh = () => ({ ...entry, entryId: randomUUID() });
  await invalid(internal.recordAuditEntry({ ...fresh(), entryId: "x" }), ["entry_id"]);
  await invalid(internal.recordAuditEntry({ ...fresh(), adminId: "" }), ["admin_id"]);
  await invalid(internal.recordAuditEntry({ ...fresh(), action: "" }), ["action"]);
  await invalid(internal.recordAuditEntry({ ...fresh(), resourceType: "r".repeat(101) }), ["resource_type"]);
  await invalid(internal.recordAuditEntry({ ...fresh(), resourceId: "" }), ["resource_id"]);
  // An admin, a user or no one through the gateway: refused.
  const viaGateway = sys.client(AuditService);
  await rejects(viaGateway.recordAuditEntry(fresh(), root), Code.PermissionDenied, "INTERNAL_METHOD");
  const user = await sys.register();
  await rejects(viaGateway.recordAuditEntry(fresh(), user.auth), Code.PermissionDenied, "INTERNAL_METHOD");
  await rejects(viaGateway.recordAuditEntry(fresh()), Code.PermissionDenied, "INTERNAL_METHOD");
  const after = await sys.client(AuditService).listAuditEntries({ resourceId: entry.resourceId }, root);
  assert.is(after.entries.length, 1, "nothing refused was appended");
});

test("user tokens are refused on every admin method; admin tokens on methods that act as a user", async ({
  sys,
  root,
}) => {
  const user = await sys.register();
  await rejects(sys.client(AdminAuthService).listAdmins({}, user.auth), Code.PermissionDenied);
  await rejects(
    sys
      .client(AdminAuthService)
      .createAdmin({ email: "a@b.co", name: "n", password: "long-enough-pass" }, user.auth),
    Code.PermissionDenied,
  );
  await rejects(sys.client(AuditService).listAuditEntries({}, user.auth), Code.PermissionDenied);
  await rejects(sys.client(AuditService).verifyAuditChain({}, user.auth), Code.PermissionDenied);
  await rejects(sys.client(UserManagementService).listUsers({}, user.auth), Code.PermissionDenied);
  await rejects(
    sys.client(UserManagementService).unblockUser({ userId: user.userId }, user.auth),
    Code.PermissionDenied,
  );
  await rejects(sys.client(UserService).getMe({}, root), Code.PermissionDenied);
  await rejects(sys.client(NotificationService).listNotifications({}, root), Code.PermissionDenied);
  await rejects(sys.client(AuditService).listAuditEntries({}), Code.Unauthenticated);
});

// Last: it breaks the chain.
test("the audit chain verifies, and detects an entry changed behind its back", async ({ sys, root }) => {
  const audit = sys.client(AuditService);
  const ok = await audit.verifyAuditChain({}, root);
  assert.is(ok.valid, true);
  assert.ok(ok.checkedCount > 3n);
  const p1 = await audit.listAuditEntries({ pageSize: 2 }, root);
  const p2 = await audit.listAuditEntries({ pageSize: 2, pageToken: p1.nextPageToken }, root);
  assert.ok(p1.entries[1]!.sequence > p2.entries[0]!.sequence);
  assert.is(p2.entries[0]!.hash, p1.entries[1]!.previousHash);
  const sql = postgres(sys.databases.admin, { max: 1 });
  try {
    await sql`update audit_entries set action = 'user.nothing' where sequence = 2`;
  } finally {
    await sql.end();
  }
  const broken = await audit.verifyAuditChain({}, root);
  assert.equal([broken.valid, broken.firstInvalidSequence], [false, 2n]);
});

test.run();
