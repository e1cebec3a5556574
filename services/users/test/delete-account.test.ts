/**
 * DeleteMe: a user deletes their account. Their personal data is erased and their e-mail
 * freed, every session ends, the notifications service is told; bad input and wrong
 * passwords change nothing.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { courseInput, type System, startSystem } from "@classconnect/gateway/testing";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { Permission, StaffService } from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import { errorMetadata, invalid, rejects, TEST_PNG, violatedFields } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startUsersHarness, type UsersHarness } from "./harness.js";

const test = suite<{ h: UsersHarness }>("users: DeleteMe");
test.before(async (ctx) => {
  ctx.h = await startUsersHarness();
});
test.after(async (ctx) => {
  await ctx.h?.close();
});

test("bad input, a wrong password and strangers change nothing", async ({ h }) => {
  const u = await h.register();
  const auth = h.bearer(u.accessToken);
  await invalid(h.users.deleteMe({ password: u.password }, auth), ["confirm"]);
  await invalid(h.users.deleteMe({ password: "p".repeat(129), confirm: true }, auth), ["password"]);
  const wrong = await rejects(
    h.users.deleteMe({ password: "not my password", confirm: true }, auth),
    Code.InvalidArgument,
    "WRONG_PASSWORD",
  );
  assert.equal(violatedFields(wrong), ["password"]);
  await rejects(h.users.deleteMe({ confirm: true }, auth), Code.InvalidArgument, "PASSWORD_REQUIRED");
  await rejects(h.users.deleteMe({ password: u.password, confirm: true }), Code.Unauthenticated);
  await rejects(
    h.users.deleteMe({ password: u.password, confirm: true }, h.bearer(await h.adminToken())),
    Code.PermissionDenied,
  );
  const me = (await h.users.getMe({}, auth)).user!;
  assert.equal([me.email, me.firstName], [u.email, "Ada"]);
});

test("the account's data is erased, its sessions end, its e-mail is free, the notifications service is told", async ({
  h,
}) => {
  const u = await h.register({ firstName: "Grace", lastName: "Hopper" });
  const auth = h.bearer(u.accessToken);
  const other = await h.register();
  const avatar = (await h.users.uploadAvatar({ content: TEST_PNG }, auth)).user!.avatarUrl;
  const avatarFile = join(h.blobDir, avatar.slice(avatar.indexOf("/avatars/") + 1));
  assert.ok(existsSync(avatarFile));
  const elsewhere = await h.auth.login({ email: u.email, password: u.password });
  await h.auth.requestPasswordReset({ email: u.email });

  await h.users.deleteMe({ password: u.password, confirm: true }, auth);

  for (const token of [u.accessToken, elsewhere.session!.accessToken]) {
    await rejects(h.users.getMe({}, h.bearer(token)), Code.Unauthenticated);
  }
  await rejects(h.auth.refreshSession({ refreshToken: u.refreshToken }), Code.Unauthenticated);
  await rejects(h.auth.login({ email: u.email, password: u.password }), Code.Unauthenticated);
  await rejects(h.users.getProfile({ userId: u.userId }, h.bearer(other.accessToken)), Code.NotFound);
  assert.equal(
    (
      await h.users.batchGetProfiles({ userIds: [u.userId, other.userId] }, h.bearer(other.accessToken))
    ).profiles.map((p) => p.id),
    [other.userId],
  );
  assert.not.ok(existsSync(avatarFile), "the picture is deleted");
  const [row] = await h.sql<Record<string, unknown>[]>`select * from users where id = ${u.userId}`;
  assert.ok(row!["deleted_at"]);
  for (const personal of ["first_name", "last_name", "location", "bio", "avatar_url", "website"]) {
    assert.not.ok(String(row![personal]).includes("Grace") || String(row![personal]).includes("Hopper"));
  }
  assert.not.ok(String(row!["email"]).includes(u.email.split("@")[0]!), "the e-mail is gone");
  assert.is(row!["password_hash"], null);
  const [secrets] = await h.sql<{ n: number }[]>`
    select (select count(*) from password_resets where user_id = ${u.userId})::int
         + (select count(*) from email_pins where user_id = ${u.userId})::int as n`;
  assert.is(secrets!.n, 0, "no reset link or PIN outlives the account");
  const events = await h.sql<{ event_type: string; recipients: { userIds: string[] } }[]>`
    select event_type, recipients from outbox where event_type = 'ACCOUNT_DELETED'
      and recipients->'userIds' ? ${u.userId}`;
  assert.is(events.length, 1, "the notifications service is told");

  // The e-mail signs up again, as a new account.
  const again = await h.register({ email: u.email });
  assert.is.not(again.userId, u.userId);
  // Deleting twice: the token no longer works.
  await rejects(h.users.deleteMe({ password: u.password, confirm: true }, auth), Code.Unauthenticated);
});

test("an account that signs in only with Google confirms with a fresh Google ID token of its own", async ({
  h,
}) => {
  const google = await h.auth.loginWithGoogle({
    idToken: await h.google.idToken({ uid: "google-uid-delete", email: "linus.delete@example.com" }),
  });
  const auth = h.bearer(google.session!.accessToken);
  for (const googleIdToken of [
    "",
    "not.a.token",
    await h.google.idToken({ uid: "someone-else", email: "other.delete@example.com" }),
  ]) {
    const e = await rejects(
      h.users.deleteMe({ googleIdToken, password: "guess", confirm: true }, auth),
      Code.InvalidArgument,
      "GOOGLE_REAUTH_REQUIRED",
    );
    assert.equal(violatedFields(e), ["google_id_token"]);
  }
  await h.users.getMe({}, auth);
  await h.users.deleteMe(
    {
      googleIdToken: await h.google.idToken({ uid: "google-uid-delete", email: "linus.delete@example.com" }),
      confirm: true,
    },
    auth,
  );
  await rejects(h.users.getMe({}, auth), Code.Unauthenticated);
  // The Google account is free again: signing in makes a new account.
  const back = await h.auth.loginWithGoogle({
    idToken: await h.google.idToken({ uid: "google-uid-delete", email: "linus.delete@example.com" }),
  });
  assert.is(back.created, true);
  assert.is.not(back.user!.id, google.user!.id);
});

test.run();

/** With the other services: an account that still teaches is kept until its courses end. */
const system = suite<{ sys: System }>("users: DeleteMe with the courses service");
system.before(async (ctx) => {
  ctx.sys = await startSystem();
});
system.after(async (ctx) => {
  await ctx.sys?.close();
});

system(
  "a teacher whose courses have not finished is told which; finished or deleted ones do not hold it",
  async ({ sys }) => {
    const teacher = await sys.register();
    const courses = sys.client(CourseService);
    const make = async (title: string) =>
      (await courses.createCourse({ course: courseInput({ title }) }, teacher.auth)).course!;
    const [algebra, botany, chemistry] = [
      await make("Algebra"),
      await make("Botany"),
      await make("Chemistry"),
    ];
    const deleteMe = () =>
      sys.client(UserService).deleteMe({ password: teacher.password, confirm: true }, teacher.auth);
    const held = await rejects(deleteMe(), Code.FailedPrecondition, "OWNS_ACTIVE_COURSES");
    assert.match(held.rawMessage, '"Algebra", "Botany", "Chemistry"');
    assert.is(errorMetadata(held)["total"], "3");
    await courses.finishCourse({ courseId: algebra.id }, teacher.auth);
    await courses.deleteCourse({ courseId: botany.id, etag: botany.etag }, teacher.auth);
    const still = await rejects(deleteMe(), Code.FailedPrecondition, "OWNS_ACTIVE_COURSES");
    assert.is(errorMetadata(still)["course_ids"], chemistry.id);
    // Refused, the account is untouched.
    await sys.client(UserService).getMe({}, teacher.auth);
    await courses.finishCourse({ courseId: chemistry.id }, teacher.auth);
    await deleteMe();
    await rejects(sys.client(UserService).getMe({}, teacher.auth), Code.Unauthenticated);
    // The finished course keeps its record; its teacher is gone.
    const student = await sys.register();
    const seen = (await courses.getCourse({ courseId: algebra.id }, student.auth)).course!;
    assert.equal([seen.title, seen.teacher], ["Algebra", undefined]);
    // The courses service's side: internal only, and its input checked.
    const internal = sys.internalClient(CourseService, "courses");
    await invalid(internal.listOwnedActiveCourses({ userId: "x" }), ["user_id"]);
    assert.is((await internal.listOwnedActiveCourses({ userId: teacher.userId })).total, 0);
    await rejects(
      courses.listOwnedActiveCourses({ userId: teacher.userId }, student.auth),
      Code.PermissionDenied,
      "INTERNAL_METHOD",
    );
  },
);

system("a deleted account's assistant roles, favorites and seats go; what it did stays", async ({ sys }) => {
  const courses = sys.client(CourseService);
  const staff = sys.client(StaffService);
  const owner = await sys.register();
  const helper = await sys.register();
  const other = await sys.register();
  const c = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
  // A full course the account had a seat in, and a finished one it took.
  const full = (await courses.createCourse({ course: courseInput({ capacity: 1 }) }, owner.auth)).course!;
  const done = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
  const enrollment = sys.client(EnrollmentService);
  for (const course of [full, done]) await enrollment.enroll({ courseId: course.id }, helper.auth);
  await courses.finishCourse(
    { courseId: done.id, finalGrades: [{ studentId: helper.userId, grade: 8 }] },
    owner.auth,
  );
  await rejects(enrollment.enroll({ courseId: full.id }, other.auth), Code.FailedPrecondition, "COURSE_FULL");
  for (const u of [helper, other]) {
    await staff.addAssistant(
      { courseId: c.id, userId: u.userId, permissions: [Permission.CONTENT] },
      owner.auth,
    );
    await courses.addFavorite({ courseId: c.id }, u.auth);
  }
  await courses.updateCourse(
    { courseId: c.id, etag: c.etag, course: { title: "Renamed" }, updateMask: { paths: ["title"] } },
    helper.auth,
  );
  await sys.client(UserService).deleteMe({ password: helper.password, confirm: true }, helper.auth);

  const members = (await staff.listStaff({ courseId: c.id }, owner.auth)).staff;
  assert.equal(
    members.map((m) => [m.owner, m.user?.id]),
    [
      [true, owner.userId],
      [false, other.userId],
    ],
  );
  const sql = postgres(sys.databases.courses, { max: 1 });
  try {
    const [left] = await sql<{ n: number }[]>`
      select (select count(*) from favorites where user_id = ${helper.userId})::int
           + (select count(*) from assistants where user_id = ${helper.userId})::int as n`;
    assert.is(left!.n, 0);
  } finally {
    await sql.end();
  }
  assert.is((await courses.listFavorites({}, other.auth)).courses.length, 1, "others' stay");
  assert.is(
    (await courses.getCourse({ courseId: full.id }, owner.auth)).course?.seatsLeft,
    1,
    "the seat is back",
  );
  await enrollment.enroll({ courseId: full.id }, other.auth);
  assert.equal(
    (await enrollment.listStudents({ courseId: done.id }, owner.auth)).enrollments.map((e) => e.student?.id),
    [helper.userId],
    "a finished course keeps its record",
  );
  const log = await staff.listActivity({ courseId: c.id }, owner.auth);
  assert.equal(
    log.entries.map((e) => [e.actorId, e.action]),
    [[helper.userId, "course.update"]],
    "the activity log keeps what was done",
  );
  await invalid(sys.internalClient(CourseService, "courses").forgetUser({ userId: "x" }), ["user_id"]);
  await rejects(
    courses.forgetUser({ userId: other.userId }, owner.auth),
    Code.PermissionDenied,
    "INTERNAL_METHOD",
  );
});

system.run();
