import { randomUUID } from "node:crypto";
import { type System, startSystem } from "@classconnect/gateway/testing";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { Permission, StaffService } from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import { EducationLevel } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import { FailedPreconditionError, type OutboxEvent } from "@classconnect/platform";
import { connectErrorOf } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createEnrollmentStore } from "../src/store/enrollments.js";
import { createStaffStore } from "../src/store/staff.js";
import { at, courseInput, DAY, invalid, reasonOf, rejects } from "./fixtures.js";

const test = suite<{ sys: System }>("courses: EnrollmentService");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

test("Enroll takes a seat and records an ENROLLED event in the outbox; twice is ALREADY_EXISTS", async ({
  sys,
}) => {
  const owner = await sys.register();
  const student = await sys.register();
  const c = (
    await sys.client(CourseService).createCourse({ course: courseInput({ capacity: 2 }) }, owner.auth)
  ).course!;
  const res = await sys.client(EnrollmentService).enroll({ courseId: c.id }, student.auth);
  assert.is(res.enrollment?.student?.id, student.userId);
  assert.ok(res.enrollment?.enrollTime);
  await rejects(
    sys.client(EnrollmentService).enroll({ courseId: c.id }, student.auth),
    Code.AlreadyExists,
    "ALREADY_ENROLLED",
  );
  const after = await sys.client(CourseService).getCourse({ courseId: c.id }, student.auth);
  assert.equal([after.course?.seatsLeft, after.course?.callerEnrolled], [1, true]);
  const sql = postgres(sys.databases.courses, { max: 1 });
  try {
    const events = await sql<
      { event_type: string; recipients: { userIds: string[] }; data: Record<string, string> }[]
    >`
      select event_type, recipients, data from outbox where data->>'course_id' = ${c.id}`;
    assert.equal(
      events.map((e) => [e.event_type, e.recipients.userIds, e.data["course_title"]]),
      [["ENROLLED", [student.userId], "Distributed Systems"]],
    );
  } finally {
    await sql.end();
  }
  await invalid(sys.client(EnrollmentService).enroll({ courseId: "x" }, student.auth), ["course_id"]);
  await rejects(
    sys.client(EnrollmentService).enroll({ courseId: randomUUID() }, student.auth),
    Code.NotFound,
  );
  await rejects(sys.client(EnrollmentService).enroll({ courseId: c.id }), Code.Unauthenticated);
});

test("refusals carry their reason: full, closed, own course, prerequisites, education level", async ({
  sys,
}) => {
  const courses = sys.client(CourseService);
  const enrollment = sys.client(EnrollmentService);
  const owner = await sys.register();
  const a = await sys.register();
  const b = await sys.register();
  /** A course of `owner`'s, as courseInput makes it with `input`. */
  const newCourse = async (input: Parameters<typeof courseInput>[0]) =>
    (await courses.createCourse({ course: courseInput(input) }, owner.auth)).course!;
  const tiny = await newCourse({ capacity: 1 });
  await enrollment.enroll({ courseId: tiny.id }, a.auth);
  const full = await rejects(
    enrollment.enroll({ courseId: tiny.id }, b.auth),
    Code.FailedPrecondition,
    "COURSE_FULL",
  );
  assert.is(reasonOf(full)?.metadata["capacity"], "1");
  // The student holding the only seat is told they are enrolled, not that the course is full.
  await rejects(enrollment.enroll({ courseId: tiny.id }, a.auth), Code.AlreadyExists, "ALREADY_ENROLLED");
  const closed = await newCourse({
    startTime: at(-3 * DAY),
    enrollmentDeadline: at(-1 * DAY),
    endTime: at(20 * DAY),
  });
  await rejects(
    enrollment.enroll({ courseId: closed.id }, b.auth),
    Code.FailedPrecondition,
    "ENROLLMENT_CLOSED",
  );
  await rejects(
    enrollment.enroll({ courseId: tiny.id }, owner.auth),
    Code.FailedPrecondition,
    "TEACHER_CANNOT_ENROLL",
  );

  // Prerequisites: B requires having passed A (finished, final grade ≥ A's passing grade).
  const basics = await newCourse({ title: "Basics", passingGrade: 60 });
  const advanced = await newCourse({ title: "Advanced", prerequisiteCourseIds: [basics.id] });
  const missing = await rejects(
    enrollment.enroll({ courseId: advanced.id }, a.auth),
    Code.FailedPrecondition,
    "PREREQUISITE_MISSING",
  );
  assert.is(reasonOf(missing)?.metadata["course_ids"], basics.id);
  await enrollment.enroll({ courseId: basics.id }, a.auth);
  await enrollment.enroll({ courseId: basics.id }, b.auth);
  await courses.finishCourse(
    {
      courseId: basics.id,
      finalGrades: [
        { studentId: a.userId, grade: 75 },
        { studentId: b.userId, grade: 59.99 },
      ],
    },
    owner.auth,
  );
  // The detail says where each caller stands: a passed, b not.
  const standing = async (who: { auth: typeof a.auth }) =>
    (await courses.getCourse({ courseId: advanced.id }, who.auth)).course!.prerequisites.map((p) => [
      p.courseId,
      p.title,
      p.passed,
    ]);
  assert.equal(await standing(a), [[basics.id, "Basics", true]]);
  assert.equal(await standing(b), [[basics.id, "Basics", false]]);
  await enrollment.enroll({ courseId: advanced.id }, a.auth);
  await rejects(
    enrollment.enroll({ courseId: advanced.id }, b.auth),
    Code.FailedPrecondition,
    "PREREQUISITE_MISSING",
  );
  // A deleted prerequisite no longer counts (nobody could take it): not shown, not required.
  const extra = await newCourse({ title: "Extra" });
  const capstone = await newCourse({ title: "Capstone", prerequisiteCourseIds: [basics.id, extra.id] });
  const missingBoth = await rejects(
    enrollment.enroll({ courseId: capstone.id }, a.auth),
    Code.FailedPrecondition,
    "PREREQUISITE_MISSING",
  );
  assert.is(reasonOf(missingBoth)?.metadata["course_ids"], extra.id);
  await courses.deleteCourse({ courseId: extra.id, etag: extra.etag }, owner.auth);
  const shown = (await courses.getCourse({ courseId: capstone.id }, a.auth)).course!;
  assert.equal(
    shown.prerequisites.map((p) => [p.title, p.passed]),
    [["Basics", true]],
  );
  await enrollment.enroll({ courseId: capstone.id }, a.auth);

  // Missing several criteria, a student hears of all of them at once, prerequisites first.
  const thesis = await newCourse({
    title: "Thesis",
    prerequisiteCourseIds: [basics.id],
    minEducationLevel: EducationLevel.BACHELOR,
  });
  const both = await rejects(
    enrollment.enroll({ courseId: thesis.id }, b.auth),
    Code.FailedPrecondition,
    "PREREQUISITE_MISSING",
  );
  assert.equal(
    [both.rawMessage, reasonOf(both)?.metadata],
    [
      "you have not passed every prerequisite course, and your education level is below the course's minimum (update it in your profile)",
      {
        unmet: "PREREQUISITE_MISSING,EDUCATION_LEVEL_TOO_LOW",
        course_ids: basics.id,
        required_level: String(EducationLevel.BACHELOR),
        your_level: String(EducationLevel.UNSPECIFIED),
      },
    ],
  );

  // Minimum education level comes from the student's profile in the users service.
  const graduate = await newCourse({ minEducationLevel: EducationLevel.BACHELOR });
  const low = await rejects(
    enrollment.enroll({ courseId: graduate.id }, b.auth),
    Code.FailedPrecondition,
    "EDUCATION_LEVEL_TOO_LOW",
  );
  assert.is(reasonOf(low)?.metadata["required_level"], String(EducationLevel.BACHELOR));
  await sys
    .client(UserService)
    .updateMe(
      { user: { educationLevel: EducationLevel.MASTER }, updateMask: { paths: ["education_level"] } },
      b.auth,
    );
  await enrollment.enroll({ courseId: graduate.id }, b.auth);
});

test("where a seat is taken, the course is checked again: finished, gone or teaching since it was read", async ({
  sys,
}) => {
  // Enroll reads the course, checks it, then takes the seat; these are the states it can
  // meet at the seat that it did not see when it read (each a race through the API).
  const sql = postgres(sys.databases.courses, { max: 1, onnotice: () => {} });
  try {
    const enrollments = createEnrollmentStore(sql);
    const staff = createStaffStore(sql);
    const courses = sys.client(CourseService);
    const owner = await sys.register();
    const student = await sys.register();
    const event = (courseId: string): OutboxEvent => ({
      type: "ENROLLED",
      recipients: { userIds: [student.userId] },
      data: { course_id: courseId },
    });
    const seats = async (courseId: string) =>
      (await sql<{ n: number }[]>`select enrolled_count as n from courses where id = ${courseId}`)[0]!.n;

    const finished = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
    await courses.finishCourse({ courseId: finished.id, finalGrades: [] }, owner.auth);
    assert.is(await enrollments.enroll(finished.id, student.userId, event(finished.id)), "finished");

    const gone = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
    await courses.deleteCourse({ courseId: gone.id, etag: gone.etag }, owner.auth);
    assert.is(await enrollments.enroll(gone.id, student.userId, event(gone.id)), "gone");
    assert.is(await enrollments.enroll(randomUUID(), student.userId, event(gone.id)), "gone");

    const taught = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
    await sys
      .client(StaffService)
      .addAssistant(
        { courseId: taught.id, userId: student.userId, permissions: [Permission.CONTENT] },
        owner.auth,
      );
    assert.is(await enrollments.enroll(taught.id, student.userId, event(taught.id)), "teaching");
    assert.is(await enrollments.enroll(taught.id, owner.userId, event(taught.id)), "teaching");
    assert.is(await seats(taught.id), 0, "a refused enrollment gives its seat back");

    const full = (await courses.createCourse({ course: courseInput({ capacity: 1 }) }, owner.auth)).course!;
    await sys.client(EnrollmentService).enroll({ courseId: full.id }, (await sys.register()).auth);
    assert.is(await enrollments.enroll(full.id, student.userId, event(full.id)), "full");

    // And the other way: an assistant is added only if not enrolled, to a live course.
    const joined = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
    await sys.client(EnrollmentService).enroll({ courseId: joined.id }, student.auth);
    const added = (courseId: string): OutboxEvent => ({
      type: "ASSISTANT_ADDED",
      recipients: { userIds: [] },
      data: { course_id: courseId },
    });
    assert.is(await staff.add(joined.id, student.userId, [], added(joined.id)), "student");
    assert.is(await staff.add(gone.id, student.userId, [], added(gone.id)), undefined);
    const [stored] =
      await sql`select count(*)::int as n from assistants where user_id = ${student.userId} and course_id <> ${taught.id}`;
    assert.is(stored!["n"], 0);
  } finally {
    await sql.end();
  }
});

test("capacity holds under 200 simultaneous Enroll calls: exactly 20 of a capacity of 20 succeed; all 20 leave at once", async ({
  sys,
}) => {
  const owner = await sys.register();
  const c = (
    await sys.client(CourseService).createCourse({ course: courseInput({ capacity: 20 }) }, owner.auth)
  ).course!;
  const students = await Promise.all(Array.from({ length: 200 }, () => sys.register()));
  const enrollment = sys.client(EnrollmentService);
  const results = await Promise.allSettled(
    students.map((s) => enrollment.enroll({ courseId: c.id }, s.auth)),
  );
  const ok = results.filter((r) => r.status === "fulfilled").length;
  const reasons = results.flatMap((r) =>
    r.status === "rejected" ? [reasonOf(connectErrorOf(r.reason))?.reason] : [],
  );
  assert.is(ok, 20);
  assert.equal([...new Set(reasons)], ["COURSE_FULL"]);
  const sql = postgres(sys.databases.courses, { max: 1 });
  const seats = async () => {
    const [row] = await sql<{ enrolled_count: number; rows: string }[]>`
      select c.enrolled_count, (select count(*) from enrollments e where e.course_id = c.id) as rows
      from courses c where c.id = ${c.id}`;
    return [row!.enrolled_count, Number(row!.rows)];
  };
  try {
    assert.equal(await seats(), [20, 20]);
    // Each leaver locks the course to free its seat; none waits on another's lock forever.
    const seated = students.filter((_, i) => results[i]!.status === "fulfilled");
    await Promise.all(seated.map((s) => enrollment.unenroll({ courseId: c.id }, s.auth)));
    assert.equal(await seats(), [0, 0]);
  } finally {
    await sql.end();
  }
});

test("Unenroll frees the seat; RemoveStudent by owner or students-assistant only; ListStudents for staff", async ({
  sys,
}) => {
  const courses = sys.client(CourseService);
  const enrollment = sys.client(EnrollmentService);
  const staff = sys.client(StaffService);
  const owner = await sys.register();
  const manager = await sys.register();
  const grader = await sys.register();
  const [s1, s2, s3] = [
    await sys.register({ firstName: "Ann" }),
    await sys.register({ firstName: "Ben" }),
    await sys.register({ firstName: "Cy" }),
  ];
  const c = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
  await staff.addAssistant(
    { courseId: c.id, userId: manager.userId, permissions: [Permission.STUDENTS] },
    owner.auth,
  );
  await staff.addAssistant(
    { courseId: c.id, userId: grader.userId, permissions: [Permission.GRADING] },
    owner.auth,
  );
  for (const s of [s1!, s2!, s3!]) await enrollment.enroll({ courseId: c.id }, s.auth);

  const page1 = await enrollment.listStudents({ courseId: c.id, pageSize: 2 }, grader.auth);
  const page2 = await enrollment.listStudents(
    { courseId: c.id, pageSize: 2, pageToken: page1.nextPageToken },
    grader.auth,
  );
  assert.equal(
    [...page1.enrollments, ...page2.enrollments].map((e) => e.student?.firstName),
    ["Ann", "Ben", "Cy"],
  );
  await rejects(enrollment.listStudents({ courseId: c.id }, s1!.auth), Code.PermissionDenied);

  await enrollment.unenroll({ courseId: c.id }, s1!.auth);
  await rejects(enrollment.unenroll({ courseId: c.id }, s1!.auth), Code.NotFound);
  assert.is((await courses.getCourse({ courseId: c.id }, owner.auth)).course?.seatsLeft, 28);

  await rejects(
    enrollment.removeStudent({ courseId: c.id, studentId: s2!.userId }, grader.auth),
    Code.PermissionDenied,
    "MISSING_PERMISSION",
  );
  await rejects(
    enrollment.removeStudent({ courseId: c.id, studentId: s2!.userId }, s3!.auth),
    Code.PermissionDenied,
  );
  await enrollment.removeStudent({ courseId: c.id, studentId: s2!.userId, reason: "inactive" }, manager.auth);
  await rejects(
    enrollment.removeStudent({ courseId: c.id, studentId: s2!.userId }, owner.auth),
    Code.NotFound,
  );
  await enrollment.removeStudent({ courseId: c.id, studentId: s3!.userId }, owner.auth);
  assert.is((await enrollment.listStudents({ courseId: c.id }, owner.auth)).enrollments.length, 0);
  const log = await staff.listActivity({ courseId: c.id }, owner.auth);
  assert.equal(
    log.entries.map((e) => [e.actorId, e.action, e.resourceId, e.details]),
    [[manager.userId, "student.remove", s2!.userId, "inactive"]],
  );
  await invalid(enrollment.removeStudent({ courseId: c.id, studentId: "x" }, owner.auth), ["student_id"]);
  await invalid(
    enrollment.removeStudent({ courseId: c.id, studentId: s2!.userId, reason: "r".repeat(501) }, owner.auth),
    ["reason"],
  );
  const sql = postgres(sys.databases.courses, { max: 1 });
  try {
    const removed =
      await sql`select 1 from outbox where event_type = 'STUDENT_REMOVED' and data->>'course_id' = ${c.id}`;
    assert.is(removed.length, 2);
  } finally {
    await sql.end();
  }
});

test("a finished course keeps its students and their final grades: no one is removed or leaves until the owner reopens it", async ({
  sys,
}) => {
  const courses = sys.client(CourseService);
  const enrollment = sys.client(EnrollmentService);
  const owner = await sys.register();
  const student = await sys.register();
  const other = await sys.register();
  const c = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
  const next = (
    await courses.createCourse({ course: courseInput({ prerequisiteCourseIds: [c.id] }) }, owner.auth)
  ).course!;
  await enrollment.enroll({ courseId: c.id }, student.auth);
  await enrollment.enroll({ courseId: c.id }, other.auth);
  await courses.finishCourse(
    { courseId: c.id, finalGrades: [{ studentId: student.userId, grade: 90 }] },
    owner.auth,
  );

  await rejects(
    enrollment.removeStudent({ courseId: c.id, studentId: student.userId, reason: "late" }, owner.auth),
    Code.FailedPrecondition,
    "COURSE_FINISHED",
  );
  await rejects(
    enrollment.unenroll({ courseId: c.id }, student.auth),
    Code.FailedPrecondition,
    "COURSE_FINISHED",
  );
  // Refused where the seat is freed too: a removal that read the course before it finished.
  const sql = postgres(sys.databases.courses, { max: 1, onnotice: () => {} });
  try {
    const store = createEnrollmentStore(sql);
    const removal: { event: OutboxEvent } = {
      event: { type: "STUDENT_REMOVED", recipients: { userIds: [other.userId] }, data: {} },
    };
    const raced = await store.remove(c.id, other.userId, removal).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(raced instanceof FailedPreconditionError, String(raced));
    assert.is(raced.reason, "COURSE_FINISHED");
    const kept = await sql<{ student_id: string; final_grade: number | null }[]>`
      select student_id, final_grade::float8 as final_grade from enrollments where course_id = ${c.id}`;
    assert.equal(
      kept.map((r) => [r.student_id, r.final_grade]).sort(),
      [
        [student.userId, 90],
        [other.userId, null],
      ].sort(),
    );
    const [row] = await sql<{ n: number }[]>`select enrolled_count as n from courses where id = ${c.id}`;
    assert.is(row!.n, 2);
    const events =
      await sql`select 1 from outbox where event_type = 'STUDENT_REMOVED' and data->>'course_id' = ${c.id}`;
    assert.is(events.length, 0);
  } finally {
    await sql.end();
  }
  // The grade still counts where it is a prerequisite.
  assert.equal(
    (await courses.getCourse({ courseId: next.id }, student.auth)).course!.prerequisites.map((p) => p.passed),
    [true],
  );

  await courses.reopenCourse({ courseId: c.id }, owner.auth);
  await enrollment.removeStudent({ courseId: c.id, studentId: student.userId, reason: "late" }, owner.auth);
  assert.equal(
    (await enrollment.listStudents({ courseId: c.id }, owner.auth)).enrollments.map((e) => e.student?.id),
    [other.userId],
  );
});

test.run();
