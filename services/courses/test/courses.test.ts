import { randomUUID } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type System, startSystem, type TestUser } from "@classconnect/gateway/testing";
import {
  CourseLevel,
  CourseRole,
  CourseState,
  Modality,
} from "@classconnect/gen/classconnect/courses/v1/course_pb.js";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { Permission, StaffService } from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import { EventType } from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import type { EducationLevel } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { refusingInserts, TEST_JPEG, TEST_PNG } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { at, courseInput, DAY, errorMetadata, invalid, rejects } from "./fixtures.js";

const test = suite<{ sys: System }>("courses: CourseService");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

test("CreateCourse returns the stored course; GetCourse adds the teacher's public profile", async ({
  sys,
}) => {
  const courses = sys.client(CourseService);
  const teacher = await sys.register({ firstName: "Barbara", lastName: "Liskov" });
  const created = await courses.createCourse(
    { course: courseInput({ prerequisiteCourseIds: [] }) },
    teacher.auth,
  );
  const c = created.course!;
  assert.is(c.title, "Distributed Systems");
  assert.is(c.ownerId, teacher.userId);
  assert.is(c.state, CourseState.ACTIVE);
  assert.equal([c.capacity, c.seatsLeft, c.enrolledCount], [30, 30, 0]);
  assert.is(c.callerRole, CourseRole.OWNER);
  assert.equal(c.objectives, ["Understand Raft", "Build a replicated log"]);
  assert.ok(c.etag);
  const student = await sys.register();
  const got = await courses.getCourse({ courseId: c.id }, student.auth);
  assert.is(got.course?.teacher?.firstName, "Barbara");
  assert.is(got.course?.teacher?.email, "", "the teacher's private e-mail stays private");
  assert.is(got.course?.callerRole, CourseRole.UNSPECIFIED);
  await rejects(courses.getCourse({ courseId: randomUUID() }, student.auth), Code.NotFound);
  await invalid(courses.getCourse({ courseId: "nope" }, student.auth), ["course_id"]);
  await rejects(courses.getCourse({ courseId: c.id }), Code.Unauthenticated);
  await rejects(courses.getCourse({ courseId: c.id }, await sys.adminAuth()), Code.PermissionDenied);
});

test("CreateCourse names every invalid field and writes nothing", async ({ sys }) => {
  const courses = sys.client(CourseService);
  const teacher = await sys.register();
  const cases: [Parameters<typeof courseInput>[0], string][] = [
    [{ title: "ab" }, "course.title"],
    [{ description: "" }, "course.description"],
    [{ category: "" }, "course.category"],
    [{ level: CourseLevel.UNSPECIFIED }, "course.level"],
    [{ modality: 7 as Modality }, "course.modality"],
    [{ capacity: 0 }, "course.capacity"],
    [{ startTime: undefined }, "course.start_time"],
    // A missing time is named once, by its own rule, not again by the rules that compare times.
    [{ endTime: undefined }, "course.end_time"],
    [{ enrollmentDeadline: undefined }, "course.enrollment_deadline"],
    [{ endTime: at(9 * DAY) }, "course.end_time"],
    [{ enrollmentDeadline: at(200 * DAY) }, "course.enrollment_deadline"],
    [{ pictureUrl: "not a url" }, "course.picture_url"],
    [{ pictureUrl: "javascript:alert(1)" }, "course.picture_url"],
    [{ passingGrade: 101 }, "course.passing_grade"],
    [{ prerequisiteCourseIds: ["x"] }, "course.prerequisite_course_ids[0]"],
    [{ minEducationLevel: 9 as EducationLevel }, "course.min_education_level"],
    [{ objectives: ["o".repeat(501)] }, "course.objectives[0]"],
  ];
  for (const [change, field] of cases) {
    await invalid(courses.createCourse({ course: courseInput(change) }, teacher.auth), [field]);
  }
  await invalid(courses.createCourse({}, teacher.auth), ["course"]);
  // An enum left unset reads as a missing value, not as a rule about the number 0.
  const unset = await rejects(
    courses.createCourse({ course: courseInput({ level: CourseLevel.UNSPECIFIED }) }, teacher.auth),
    Code.InvalidArgument,
  );
  assert.match(unset.rawMessage, "course.level: value is required");
  await invalid(
    courses.createCourse(
      { course: courseInput({ startTime: undefined, endTime: undefined, enrollmentDeadline: undefined }) },
      teacher.auth,
    ),
    ["course.end_time", "course.enrollment_deadline", "course.start_time"],
  );
  await rejects(
    courses.createCourse({ course: courseInput({ prerequisiteCourseIds: [randomUUID()] }) }, teacher.auth),
    Code.FailedPrecondition,
    "PREREQUISITE_NOT_FOUND",
  );
  await rejects(courses.createCourse({ course: courseInput() }), Code.Unauthenticated);
  const mine = await courses.listMyCourses({}, teacher.auth);
  assert.equal(mine.courses, [], "nothing was written");
});

test("UpdateCourse: masked fields, etag, merged validation, permissions", async ({ sys }) => {
  const courses = sys.client(CourseService);
  const staff = sys.client(StaffService);
  const owner = await sys.register();
  const student = await sys.register();
  const helper = await sys.register();
  const grader = await sys.register();
  const c = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
  await staff.addAssistant(
    { courseId: c.id, userId: helper.userId, permissions: [Permission.CONTENT] },
    owner.auth,
  );
  await staff.addAssistant(
    { courseId: c.id, userId: grader.userId, permissions: [Permission.GRADING] },
    owner.auth,
  );
  await sys.client(EnrollmentService).enroll({ courseId: c.id }, student.auth);

  const updated = await courses.updateCourse(
    {
      courseId: c.id,
      etag: c.etag,
      course: { title: "Distributed Systems II", capacity: 5 },
      updateMask: { paths: ["title"] },
    },
    owner.auth,
  );
  assert.is(updated.course?.title, "Distributed Systems II");
  assert.is(updated.course?.capacity, 30, "unmasked fields stay");
  assert.is.not(updated.course?.etag, c.etag);
  await rejects(
    courses.updateCourse(
      { courseId: c.id, etag: c.etag, course: { title: "Stale" }, updateMask: { paths: ["title"] } },
      owner.auth,
    ),
    Code.Aborted,
    "ETAG_MISMATCH",
  );
  const etag = updated.course!.etag;
  await invalid(
    courses.updateCourse(
      { courseId: c.id, etag, course: { endTime: at(9 * DAY) }, updateMask: { paths: ["end_time"] } },
      owner.auth,
    ),
    ["course.end_time"],
  );
  await invalid(
    courses.updateCourse(
      { courseId: c.id, etag, course: { title: "x" }, updateMask: { paths: ["title"] } },
      owner.auth,
    ),
    ["course.title"],
  );
  await invalid(
    courses.updateCourse(
      { courseId: c.id, etag, course: {}, updateMask: { paths: ["owner_id"] } },
      owner.auth,
    ),
    ["update_mask"],
  );
  await invalid(courses.updateCourse({ courseId: c.id, etag, course: {} }, owner.auth), ["update_mask"]);
  // A mask without a course clears what it names, which is validated like any other value:
  // a cleared date is missing, not 1970.
  await invalid(
    courses.updateCourse(
      { courseId: c.id, etag, updateMask: { paths: ["title", "start_time", "enrollment_deadline"] } },
      owner.auth,
    ),
    ["course.enrollment_deadline", "course.start_time", "course.title"],
  );
  await invalid(
    courses.updateCourse(
      { courseId: c.id, etag, course: { title: "Kept" }, updateMask: { paths: ["end_time"] } },
      owner.auth,
    ),
    ["course.end_time"],
  );
  await invalid(
    courses.updateCourse({ courseId: c.id, etag: "", updateMask: { paths: ["title"] } }, owner.auth),
    ["etag"],
  );
  await rejects(
    courses.updateCourse(
      { courseId: c.id, etag, course: { capacity: 0 }, updateMask: { paths: ["capacity"] } },
      owner.auth,
    ),
    Code.InvalidArgument,
  );
  await rejects(
    courses.updateCourse(
      { courseId: c.id, etag, course: { title: "By student" }, updateMask: { paths: ["title"] } },
      student.auth,
    ),
    Code.PermissionDenied,
    "NOT_COURSE_STAFF",
  );
  await rejects(
    courses.updateCourse(
      { courseId: c.id, etag, course: { title: "By grader" }, updateMask: { paths: ["title"] } },
      grader.auth,
    ),
    Code.PermissionDenied,
    "MISSING_PERMISSION",
  );
  const byHelper = await courses.updateCourse(
    {
      courseId: c.id,
      etag,
      course: { category: "systems", level: CourseLevel.ADVANCED },
      updateMask: { paths: ["category", "level"] },
    },
    helper.auth,
  );
  assert.equal([byHelper.course?.category, byHelper.course?.level], ["systems", CourseLevel.ADVANCED]);
  const activity = await staff.listActivity({ courseId: c.id }, owner.auth);
  assert.equal(
    activity.entries.map((e) => [e.actorId, e.action, e.resourceId, e.details]),
    [[helper.userId, "course.update", c.id, "changed category, level"]],
  );
  // Capacity can shrink, but not below the students already enrolled.
  const second = await sys.register();
  await sys.client(EnrollmentService).enroll({ courseId: c.id }, second.auth);
  await rejects(
    courses.updateCourse(
      {
        courseId: c.id,
        etag: byHelper.course!.etag,
        course: { capacity: 1 },
        updateMask: { paths: ["capacity"] },
      },
      owner.auth,
    ),
    Code.FailedPrecondition,
    "CAPACITY_BELOW_ENROLLED",
  );
});

test("capacity lowered while students enroll: either they got seats or the course is full", async ({
  sys,
}) => {
  const courses = sys.client(CourseService);
  const enrollment = sys.client(EnrollmentService);
  const owner = await sys.register();
  const late = await Promise.all(Array.from({ length: 3 }, () => sys.register()));
  for (let round = 0; round < 16; round++) {
    const c = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
    await enrollment.enroll({ courseId: c.id }, (await sys.register()).auth);
    const { etag } = (await courses.getCourse({ courseId: c.id }, owner.auth)).course!;
    const [lowered, ...enrolled] = await Promise.allSettled([
      courses.updateCourse(
        { courseId: c.id, etag, course: { capacity: 1 }, updateMask: { paths: ["capacity"] } },
        owner.auth,
      ),
      ...late.map((s) => enrollment.enroll({ courseId: c.id }, s.auth)),
    ]);
    const after = (await courses.getCourse({ courseId: c.id }, owner.auth)).course!;
    const seated = enrolled.filter((r) => r.status === "fulfilled").length;
    if (lowered.status === "fulfilled") {
      for (const r of enrolled) {
        if (r.status === "rejected")
          await rejects(Promise.reject(r.reason), Code.FailedPrecondition, "COURSE_FULL");
      }
      assert.equal([seated, after.capacity, after.enrolledCount], [0, 1, 1], `round ${round}`);
    } else {
      await rejects(Promise.reject(lowered.reason), Code.FailedPrecondition, "CAPACITY_BELOW_ENROLLED");
      assert.equal([seated, after.capacity, after.enrolledCount], [3, 30, 4], `round ${round}`);
    }
  }
});

test("prerequisites never form a loop, even when two courses are changed at once", async ({ sys }) => {
  const courses = sys.client(CourseService);
  const owner = await sys.register();
  const other = await sys.register();
  const make = async (prerequisiteCourseIds: string[], who = owner) =>
    (await courses.createCourse({ course: courseInput({ prerequisiteCourseIds }) }, who.auth)).course!;
  const setPrerequisites = async (courseId: string, ids: string[], who = owner) => {
    const { etag } = (await courses.getCourse({ courseId }, who.auth)).course!;
    return courses.updateCourse(
      {
        courseId,
        etag,
        course: { prerequisiteCourseIds: ids },
        updateMask: { paths: ["prerequisite_course_ids"] },
      },
      who.auth,
    );
  };
  // basics ← intermediate ← advanced, the last one another teacher's.
  const basics = await make([]);
  const intermediate = await make([basics.id]);
  const advanced = await make([intermediate.id], other);
  const unrelated = await make([]);

  const self = await rejects(
    setPrerequisites(basics.id, [basics.id]),
    Code.FailedPrecondition,
    "PREREQUISITE_SELF",
  );
  assert.match(self.rawMessage, "own prerequisite");
  const direct = await rejects(
    setPrerequisites(basics.id, [unrelated.id, intermediate.id]),
    Code.FailedPrecondition,
    "PREREQUISITE_CYCLE",
  );
  assert.equal(errorMetadata(direct), { course_ids: intermediate.id });
  const through = await rejects(
    setPrerequisites(basics.id, [advanced.id]),
    Code.FailedPrecondition,
    "PREREQUISITE_CYCLE",
  );
  assert.equal(errorMetadata(through), { course_ids: advanced.id });
  assert.match(through.rawMessage, "already require this course");
  const kept = (await courses.getCourse({ courseId: basics.id }, owner.auth)).course!;
  assert.equal(
    [kept.prerequisiteCourseIds, kept.etag],
    [[], basics.etag],
    "a refused change changes nothing",
  );

  // Replacing a course's own prerequisites is not a loop; nor is a diamond.
  await setPrerequisites(intermediate.id, [basics.id, unrelated.id]);
  await setPrerequisites(advanced.id, [intermediate.id, basics.id], other);
  // A deleted course counts for nothing, as at enrollment: a way back through one is no loop.
  const retired = await make([basics.id]);
  const successor = await make([retired.id]);
  await rejects(setPrerequisites(basics.id, [successor.id]), Code.FailedPrecondition, "PREREQUISITE_CYCLE");
  await courses.deleteCourse({ courseId: retired.id, etag: retired.etag }, owner.auth);
  await setPrerequisites(basics.id, [successor.id]);

  // Two changes that would each close half of a loop: one lands, the other is refused.
  for (let round = 0; round < 5; round++) {
    const [x, y] = await Promise.all([make([]), make([])]);
    const results = await Promise.allSettled([
      setPrerequisites(x.id, [y.id]),
      setPrerequisites(y.id, [x.id]),
    ]);
    assert.is(results.filter((r) => r.status === "fulfilled").length, 1, `round ${round}: one change lands`);
    const refused = results.find((r) => r.status === "rejected")!;
    await rejects(
      Promise.reject((refused as PromiseRejectedResult).reason),
      Code.FailedPrecondition,
      "PREREQUISITE_CYCLE",
    );
    const after = await Promise.all(
      [x, y].map(async (c) => (await courses.getCourse({ courseId: c.id }, owner.auth)).course!),
    );
    assert.is(
      after.filter((c) => c.prerequisiteCourseIds.length > 0).length,
      1,
      `round ${round}: no loop stored`,
    );
  }
});

test("DeleteCourse is logical, owner-only and etag-confirmed", async ({ sys }) => {
  const courses = sys.client(CourseService);
  const owner = await sys.register();
  const other = await sys.register();
  const c = (
    await courses.createCourse({ course: courseInput({ title: `Doomed ${randomUUID()}` }) }, owner.auth)
  ).course!;
  await rejects(
    courses.deleteCourse({ courseId: c.id, etag: 'W/"999"' }, owner.auth),
    Code.Aborted,
    "ETAG_MISMATCH",
  );
  await rejects(courses.deleteCourse({ courseId: c.id, etag: c.etag }, other.auth), Code.PermissionDenied);
  await invalid(courses.deleteCourse({ courseId: c.id, etag: "" }, owner.auth), ["etag"]);
  const student = await sys.register();
  const assistant = await sys.register();
  await sys.client(EnrollmentService).enroll({ courseId: c.id }, student.auth);
  await sys
    .client(StaffService)
    .addAssistant(
      { courseId: c.id, userId: assistant.userId, permissions: [Permission.GRADING] },
      owner.auth,
    );
  const current = (await courses.getCourse({ courseId: c.id }, owner.auth)).course!;
  await courses.deleteCourse({ courseId: c.id, etag: current.etag }, owner.auth);
  await rejects(courses.getCourse({ courseId: c.id }, owner.auth), Code.NotFound);
  await rejects(courses.deleteCourse({ courseId: c.id, etag: current.etag }, owner.auth), Code.NotFound);
  const found = await courses.listCourses({ keyword: c.title }, other.auth);
  assert.equal(found.courses, []);
  assert.equal((await courses.listMyCourses({}, student.auth)).courses, []);
  // Its student and its assistant are told; nobody else is.
  const notices = async (user: { auth: { headers: Record<string, string> } }) =>
    (await sys.client(NotificationService).listNotifications({}, user.auth)).notifications.filter(
      (n) => n.eventType === EventType.COURSE_DELETED,
    );
  await sys.eventually(async () => {
    for (const user of [student, assistant]) {
      const [notice] = await notices(user);
      assert.is(notice?.body, `${c.title} was deleted by its teacher; it is no longer available.`);
    }
  });
  assert.equal([...(await notices(owner)), ...(await notices(other))], []);
});

test("edits racing on one etag: exactly one lands, the rest are told the course changed", async ({ sys }) => {
  const courses = sys.client(CourseService);
  const owner = await sys.register();
  const c = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
  const edit = (etag: string, title: string) =>
    courses.updateCourse(
      { courseId: c.id, etag, course: { title }, updateMask: { paths: ["title"] } },
      owner.auth,
    );
  const results = await Promise.allSettled(
    Array.from({ length: 8 }, (_, i) => edit(c.etag, `Edit number ${i}`)),
  );
  const landed = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.course!] : []));
  assert.is(landed.length, 1, "one edit lands");
  for (const r of results) {
    if (r.status === "rejected") await rejects(Promise.reject(r.reason), Code.Aborted, "ETAG_MISMATCH");
  }
  const now = (await courses.getCourse({ courseId: c.id }, owner.auth)).course!;
  assert.equal([now.title, now.etag], [landed[0]!.title, landed[0]!.etag]);

  // A delete and an edit on one etag: one of them happens, and the other is refused.
  const [removed, edited] = await Promise.allSettled([
    courses.deleteCourse({ courseId: c.id, etag: now.etag }, owner.auth),
    edit(now.etag, "Edited, not deleted"),
  ]);
  assert.is([removed, edited].filter((r) => r.status === "fulfilled").length, 1);
  if (removed.status === "fulfilled") {
    await rejects(courses.getCourse({ courseId: c.id }, owner.auth), Code.NotFound);
  } else {
    await rejects(Promise.reject(removed.reason), Code.Aborted, "ETAG_MISMATCH");
    assert.is((await courses.getCourse({ courseId: c.id }, owner.auth)).course?.title, "Edited, not deleted");
  }
});

test("FinishCourse records final grades; finished courses are read-only for students; ReopenCourse", async ({
  sys,
}) => {
  const courses = sys.client(CourseService);
  const enrollment = sys.client(EnrollmentService);
  const owner = await sys.register();
  const s1 = await sys.register();
  const s2 = await sys.register();
  const stranger = await sys.register();
  // Enrolled, and given no final grade.
  const s3 = await sys.register();
  const c = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
  await enrollment.enroll({ courseId: c.id }, s1.auth);
  await enrollment.enroll({ courseId: c.id }, s2.auth);
  await enrollment.enroll({ courseId: c.id }, s3.auth);
  await invalid(
    courses.finishCourse({ courseId: c.id, finalGrades: [{ studentId: s1.userId, grade: 101 }] }, owner.auth),
    ["final_grades[0].grade"],
  );
  await invalid(
    courses.finishCourse(
      {
        courseId: c.id,
        finalGrades: [
          { studentId: s1.userId, grade: 1 },
          { studentId: s1.userId, grade: 2 },
        ],
      },
      owner.auth,
    ),
    ["final_grades"],
  );
  await rejects(
    courses.finishCourse(
      { courseId: c.id, finalGrades: [{ studentId: stranger.userId, grade: 70 }] },
      owner.auth,
    ),
    Code.FailedPrecondition,
    "STUDENT_NOT_ENROLLED",
  );
  await rejects(courses.finishCourse({ courseId: c.id, finalGrades: [] }, s1.auth), Code.PermissionDenied);
  const finished = await courses.finishCourse(
    {
      courseId: c.id,
      finalGrades: [
        { studentId: s1.userId, grade: 85.5 },
        { studentId: s2.userId, grade: 40 },
      ],
    },
    owner.auth,
  );
  assert.is(finished.course?.state, CourseState.FINISHED);
  const students = await enrollment.listStudents({ courseId: c.id }, owner.auth);
  assert.equal(
    students.enrollments.map((e) => [e.student?.id, e.finalGrade]).sort(),
    [
      [s1.userId, 85.5],
      [s2.userId, 40],
      [s3.userId, undefined],
    ].sort(),
  );
  // Each student reads their own final grade on the course; nobody else sees one.
  assert.is((await courses.getCourse({ courseId: c.id }, s1.auth)).course?.callerFinalGrade, 85.5);
  const mine = await courses.listMyCourses({}, s2.auth);
  assert.equal(
    mine.courses.map((m) => [m.id, m.callerFinalGrade]),
    [[c.id, 40]],
  );
  for (const other of [owner, stranger, s3]) {
    const seen = (await courses.getCourse({ courseId: c.id }, other.auth)).course;
    assert.is(seen?.state, CourseState.FINISHED);
    assert.is(seen?.callerFinalGrade, undefined);
  }
  await rejects(enrollment.unenroll({ courseId: c.id }, s1.auth), Code.FailedPrecondition, "COURSE_FINISHED");
  await rejects(
    enrollment.enroll({ courseId: c.id }, stranger.auth),
    Code.FailedPrecondition,
    "COURSE_FINISHED",
  );
  await rejects(
    courses.finishCourse({ courseId: c.id }, owner.auth),
    Code.FailedPrecondition,
    "COURSE_FINISHED",
  );
  await rejects(courses.reopenCourse({ courseId: c.id }, s1.auth), Code.PermissionDenied);
  const reopened = await courses.reopenCourse({ courseId: c.id }, owner.auth);
  assert.is(reopened.course?.state, CourseState.ACTIVE);
  // A running course has no final grade yet.
  assert.is((await courses.getCourse({ courseId: c.id }, s1.auth)).course?.callerFinalGrade, undefined);
  await rejects(
    courses.reopenCourse({ courseId: c.id }, owner.auth),
    Code.FailedPrecondition,
    "COURSE_NOT_FINISHED",
  );
  await invalid(courses.reopenCourse({ courseId: "" }, owner.auth), ["course_id"]);

  // Racing finishes with different grades: one lands, with its grades; the rest are refused.
  const grades = [10, 20, 30, 40];
  const finishes = await Promise.allSettled(
    grades.map((grade) =>
      courses.finishCourse({ courseId: c.id, finalGrades: [{ studentId: s1.userId, grade }] }, owner.auth),
    ),
  );
  const landed = grades.filter((_, i) => finishes[i]!.status === "fulfilled");
  assert.is(landed.length, 1, "one finish lands");
  for (const r of finishes) {
    if (r.status === "rejected")
      await rejects(Promise.reject(r.reason), Code.FailedPrecondition, "COURSE_FINISHED");
  }
  const graded = await enrollment.listStudents({ courseId: c.id }, owner.auth);
  assert.is(graded.enrollments.find((e) => e.student?.id === s1.userId)?.finalGrade, landed[0]);
  // The final grades are for the owner and assistants who grade or read the statistics; an
  // assistant who edits content sees who is enrolled, not how they did.
  const staff = sys.client(StaffService);
  const [editor, analyst] = await Promise.all([sys.register(), sys.register()]);
  for (const [who, permission] of [
    [editor, Permission.CONTENT],
    [analyst, Permission.STATISTICS],
  ] as const) {
    await staff.addAssistant({ courseId: c.id, userId: who.userId, permissions: [permission] }, owner.auth);
  }
  const gradeSeenBy = async (who: TestUser) => {
    const listed = (await enrollment.listStudents({ courseId: c.id }, who.auth)).enrollments;
    const row = listed.find((e) => e.student?.id === s1.userId);
    assert.ok(row, "every teacher sees the student");
    return row.finalGrade;
  };
  assert.equal([await gradeSeenBy(editor), await gradeSeenBy(analyst)], [undefined, landed[0]]);
  const reopens = await Promise.allSettled(
    Array.from({ length: 4 }, () => courses.reopenCourse({ courseId: c.id }, owner.auth)),
  );
  assert.is(reopens.filter((r) => r.status === "fulfilled").length, 1, "one reopen lands");
});

test("students hear when their course finishes, each graded one their own final grade, and when it reopens", async ({
  sys,
}) => {
  const courses = sys.client(CourseService);
  const enrollment = sys.client(EnrollmentService);
  const [owner, passing, failing, ungraded, stranger] = await Promise.all(
    Array.from({ length: 5 }, () => sys.register()),
  );
  const c = (await courses.createCourse({ course: courseInput({ title: "Compilers" }) }, owner!.auth))
    .course!;
  for (const s of [passing, failing, ungraded]) await enrollment.enroll({ courseId: c.id }, s!.auth);
  const sql = postgres(sys.databases.courses, { max: 1 });
  // One finish records its notices in one statement: in no order among themselves.
  const sorted = (rows: object[][]) =>
    rows.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  const notices = async (type: string) =>
    sorted(
      (
        await sql<{ recipients: object; data: Record<string, string> }[]>`
          select recipients, data from outbox where event_type = ${type} and data->>'course_id' = ${c.id}`
      ).map((r) => [r.recipients, r.data]),
    );
  // The passing grade itself passes.
  const finalGrades = [
    { studentId: passing!.userId, grade: 60 },
    { studentId: failing!.userId, grade: 40 },
  ];
  try {
    // Refused finishes tell no one: a student, no token, a bad grade, a stranger's grade.
    await rejects(
      courses.finishCourse({ courseId: c.id, finalGrades }, passing!.auth),
      Code.PermissionDenied,
    );
    await rejects(
      courses.finishCourse({ courseId: c.id, finalGrades }, { headers: {} }),
      Code.Unauthenticated,
    );
    await invalid(
      courses.finishCourse(
        { courseId: c.id, finalGrades: [{ studentId: passing!.userId, grade: -1 }] },
        owner!.auth,
      ),
      ["final_grades[0].grade"],
    );
    await rejects(
      courses.finishCourse(
        { courseId: c.id, finalGrades: [...finalGrades, { studentId: stranger!.userId, grade: 90 }] },
        owner!.auth,
      ),
      Code.FailedPrecondition,
      "STUDENT_NOT_ENROLLED",
    );
    // A finish whose notices cannot be recorded does not happen.
    await refusingInserts(sql, "outbox", () =>
      rejects(courses.finishCourse({ courseId: c.id, finalGrades }, owner!.auth), Code.Internal),
    );
    assert.is((await courses.getCourse({ courseId: c.id }, owner!.auth)).course?.state, CourseState.ACTIVE);
    assert.equal(await notices("COURSE_FINISHED"), []);

    // Finished twice at once: one lands, and its students hear once.
    const finishes = await Promise.allSettled(
      [1, 2].map(() => courses.finishCourse({ courseId: c.id, finalGrades }, owner!.auth)),
    );
    assert.is(finishes.filter((f) => f.status === "fulfilled").length, 1);
    const course = { course_id: c.id, course_title: "Compilers" };
    assert.equal(
      await notices("COURSE_FINISHED"),
      sorted([
        [
          { userIds: [passing!.userId] },
          { ...course, final_grade: "60", passing_grade: "60", passed: "true" },
        ],
        [
          { userIds: [failing!.userId] },
          { ...course, final_grade: "40", passing_grade: "60", passed: "false" },
        ],
        [{ userIds: [ungraded!.userId] }, course],
      ]),
    );

    // Reopened: refused callers tell no one; the owner's reopen tells the students, once.
    await rejects(courses.reopenCourse({ courseId: c.id }, passing!.auth), Code.PermissionDenied);
    await rejects(courses.reopenCourse({ courseId: c.id }, { headers: {} }), Code.Unauthenticated);
    await refusingInserts(sql, "outbox", () =>
      rejects(courses.reopenCourse({ courseId: c.id }, owner!.auth), Code.Internal),
    );
    assert.equal(await notices("COURSE_REOPENED"), []);
    await courses.reopenCourse({ courseId: c.id }, owner!.auth);
    await rejects(
      courses.reopenCourse({ courseId: c.id }, owner!.auth),
      Code.FailedPrecondition,
      "COURSE_NOT_FINISHED",
    );
    assert.equal(await notices("COURSE_REOPENED"), [[{ courseId: c.id }, course]]);
    // A course without students: no one to tell.
    const empty = (await courses.createCourse({ course: courseInput() }, owner!.auth)).course!;
    await courses.finishCourse({ courseId: empty.id }, owner!.auth);
    await courses.reopenCourse({ courseId: empty.id }, owner!.auth);
    assert.equal(
      await sql`select event_type from outbox where data->>'course_id' = ${empty.id}`.then((r) => r.length),
      0,
    );

    const inbox = (user: typeof owner) => sys.client(NotificationService).listNotifications({}, user!.auth);
    await sys.eventually(async () => {
      const bodies = (await inbox(passing)).notifications.map((n) => [n.eventType, n.body]);
      assert.ok(
        bodies.some(
          ([t, b]) =>
            t === EventType.COURSE_FINISHED &&
            b === "Compilers has finished. Your final grade is 60 of 100 (passing grade 60): you passed.",
        ),
        JSON.stringify(bodies),
      );
      assert.ok(bodies.some(([t]) => t === EventType.COURSE_REOPENED));
      const others = (await inbox(ungraded)).notifications.map((n) => n.body);
      assert.ok(
        others.includes("Compilers has finished; no final grade was recorded for you."),
        others.join(" | "),
      );
      const failed = (await inbox(failing)).notifications.map((n) => n.body);
      assert.ok(
        failed.some((b) => b.endsWith("(passing grade 60): you did not pass.")),
        failed.join(" | "),
      );
    });
    assert.not.ok(
      (await inbox(owner)).notifications.some((n) => n.eventType === EventType.COURSE_FINISHED),
      "the owner is not told what they did",
    );
  } finally {
    await sql.end();
  }
});

test("students hear when their course's dates, modality or passing grade change; other edits and refused ones stay quiet", async ({
  sys,
}) => {
  const courses = sys.client(CourseService);
  const [owner, student, stranger] = await Promise.all([1, 2, 3].map(() => sys.register()));
  let c = (await courses.createCourse({ course: courseInput({ title: "Compilers" }) }, owner!.auth)).course!;
  const sql = postgres(sys.databases.courses, { max: 1 });
  const notices = async () =>
    (
      await sql<{ recipients: object; data: Record<string, string> }[]>`
        select recipients, data from outbox where event_type = 'COURSE_UPDATED' and data->>'course_id' = ${c.id}
        order by created_at, id`
    ).map((r) => [r.recipients, r.data]);
  const update = async (course: Parameters<typeof courseInput>[0], paths: string[], auth = owner!.auth) => {
    const updated = await courses.updateCourse(
      { courseId: c.id, etag: c.etag, course, updateMask: { paths } },
      auth,
    );
    c = updated.course!;
    return c;
  };
  try {
    // No student yet: no one to tell.
    await update({ startTime: at(11 * DAY) }, ["start_time"]);
    assert.equal(await notices(), []);
    await sys.client(EnrollmentService).enroll({ courseId: c.id }, student!.auth);

    // Refused or invalid edits, and edits of other fields, tell no one.
    await rejects(update({ startTime: at(12 * DAY) }, ["start_time"], student!.auth), Code.PermissionDenied);
    await rejects(update({ startTime: at(12 * DAY) }, ["start_time"], stranger!.auth), Code.PermissionDenied);
    await rejects(update({ startTime: at(12 * DAY) }, ["start_time"], { headers: {} }), Code.Unauthenticated);
    await invalid(update({ endTime: at(9 * DAY) }, ["end_time"]), ["course.end_time"]);
    await rejects(
      courses.updateCourse(
        {
          courseId: c.id,
          etag: "stale",
          course: { passingGrade: 70 },
          updateMask: { paths: ["passing_grade"] },
        },
        owner!.auth,
      ),
      Code.Aborted,
      "ETAG_MISMATCH",
    );
    await update({ description: "Now with SSA", capacity: 40 }, ["description", "capacity"]);
    await update({ startTime: c.startTime }, ["start_time"]); // the same time again
    // A change whose notice cannot be recorded does not happen.
    await refusingInserts(sql, "outbox", () =>
      rejects(update({ passingGrade: 70 }, ["passing_grade"]), Code.Internal),
    );
    assert.is((await courses.getCourse({ courseId: c.id }, owner!.auth)).course?.passingGrade, 60);
    assert.equal(await notices(), []);

    // Renamed and moved: one notice naming the old title and each time as it is and was.
    const before = c;
    await update({ title: "Compilers II", startTime: at(12 * DAY), endTime: at(120 * DAY) }, [
      "title",
      "start_time",
      "end_time",
    ]);
    const iso = (t: typeof c.startTime) => timestampDate(t!).toISOString();
    await update({ modality: Modality.ON_SITE, passingGrade: 62.5 }, ["modality", "passing_grade"]);
    assert.equal(await notices(), [
      [
        { courseId: c.id },
        {
          course_id: c.id,
          course_title: "Compilers II",
          previous_course_title: "Compilers",
          start_time: iso(c.startTime),
          previous_start_time: iso(before.startTime),
          end_time: iso(c.endTime),
          previous_end_time: iso(before.endTime),
        },
      ],
      [
        { courseId: c.id },
        {
          course_id: c.id,
          course_title: "Compilers II",
          modality: "ON_SITE",
          previous_modality: "ONLINE",
          passing_grade: "62.5",
          previous_passing_grade: "60",
        },
      ],
    ]);
    await sys.eventually(async () => {
      const inbox = await sys.client(NotificationService).listNotifications({}, student!.auth);
      const bodies = inbox.notifications
        .filter((n) => n.eventType === EventType.COURSE_UPDATED)
        .map((n) => n.body);
      assert.ok(
        bodies.includes("Compilers II has changed: now on site (was online); passing grade 62.5 (was 60)."),
        bodies.join(" | "),
      );
      assert.ok(
        bodies.some((b) => b.startsWith('Compilers II (until now "Compilers") has changed: starts ')),
      );
    });
  } finally {
    await sql.end();
  }
});

test("a student leaving while the course finishes: either they left and the grade is refused, or they keep it", async ({
  sys,
}) => {
  const courses = sys.client(CourseService);
  const enrollment = sys.client(EnrollmentService);
  const owner = await sys.register();
  for (let round = 0; round < 8; round++) {
    const c = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
    const student = await sys.register();
    await enrollment.enroll({ courseId: c.id }, student.auth);
    const [left, finished] = await Promise.allSettled([
      enrollment.unenroll({ courseId: c.id }, student.auth),
      courses.finishCourse(
        { courseId: c.id, finalGrades: [{ studentId: student.userId, grade: 90 }] },
        owner.auth,
      ),
    ]);
    const after = (await courses.getCourse({ courseId: c.id }, owner.auth)).course!;
    const { enrollments } = await enrollment.listStudents({ courseId: c.id }, owner.auth);
    if (finished.status === "fulfilled") {
      assert.is(left.status, "rejected", `round ${round}: no one leaves a finished course`);
      await rejects(
        Promise.reject((left as PromiseRejectedResult).reason),
        Code.FailedPrecondition,
        "COURSE_FINISHED",
      );
      assert.equal(
        enrollments.map((e) => [e.student?.id, e.finalGrade]),
        [[student.userId, 90]],
        `round ${round}: the graded student stays`,
      );
    } else {
      assert.is(left.status, "fulfilled", `round ${round}: the student left`);
      await rejects(Promise.reject(finished.reason), Code.FailedPrecondition, "STUDENT_NOT_ENROLLED");
      assert.equal(
        [after.state, enrollments.length, after.enrolledCount],
        [CourseState.ACTIVE, 0, 0],
        `round ${round}`,
      );
    }
  }
});

test("ListMyCourses as student and as teacher, by state and name, paginated", async ({ sys }) => {
  const courses = sys.client(CourseService);
  const enrollment = sys.client(EnrollmentService);
  const me = await sys.register();
  const other = await sys.register();
  const taught = [];
  for (let i = 0; i < 3; i++) {
    taught.push(
      (
        await courses.createCourse(
          { course: courseInput({ title: `Taught ${i}`, startTime: at((10 + i) * DAY) }) },
          me.auth,
        )
      ).course!,
    );
  }
  const studied = (await courses.createCourse({ course: courseInput({ title: "Studied" }) }, other.auth))
    .course!;
  await enrollment.enroll({ courseId: studied.id }, me.auth);
  await courses.finishCourse({ courseId: taught[0]!.id }, me.auth);

  const asStudent = await courses.listMyCourses({ role: CourseRole.STUDENT }, me.auth);
  assert.equal(
    asStudent.courses.map((c) => c.title),
    ["Studied"],
  );
  assert.is(asStudent.courses[0]?.callerEnrolled, true);
  const asTeacher = await courses.listMyCourses({ role: CourseRole.OWNER }, me.auth);
  assert.equal(
    asTeacher.courses.map((c) => c.title),
    ["Taught 0", "Taught 1", "Taught 2"],
  );
  const active = await courses.listMyCourses({ role: CourseRole.OWNER, state: CourseState.ACTIVE }, me.auth);
  assert.equal(
    active.courses.map((c) => c.title),
    ["Taught 1", "Taught 2"],
  );
  const finished = await courses.listMyCourses({ state: CourseState.FINISHED }, me.auth);
  assert.equal(
    finished.courses.map((c) => c.title),
    ["Taught 0"],
  );
  const named = await courses.listMyCourses({ name: "stud" }, me.auth);
  assert.equal(
    named.courses.map((c) => c.title),
    ["Studied"],
  );
  const p1 = await courses.listMyCourses({ pageSize: 2 }, me.auth);
  const p2 = await courses.listMyCourses({ pageSize: 2, pageToken: p1.nextPageToken }, me.auth);
  assert.is(p1.courses.length + p2.courses.length, 4);
  assert.is(p2.nextPageToken, "");
  assert.is(new Set([...p1.courses, ...p2.courses].map((c) => c.id)).size, 4);
  await invalid(courses.listMyCourses({ state: 5 as CourseState }, me.auth), ["state"]);
  await rejects(courses.listMyCourses({}), Code.Unauthenticated);
});

test("favorites: add (idempotent), list with filters and pages, remove", async ({ sys }) => {
  const courses = sys.client(CourseService);
  const owner = await sys.register();
  const me = await sys.register();
  const ids = [];
  for (const [title, category] of [
    ["Algebra", "math"],
    ["Geometry", "math"],
    ["Poetry", "arts"],
  ] as const) {
    ids.push(
      (await courses.createCourse({ course: courseInput({ title, category }) }, owner.auth)).course!.id,
    );
  }
  for (const id of ids) await courses.addFavorite({ courseId: id }, me.auth);
  await courses.addFavorite({ courseId: ids[0]! }, me.auth);
  const all = await courses.listFavorites({}, me.auth);
  assert.equal(
    all.courses.map((c) => c.title),
    ["Poetry", "Geometry", "Algebra"],
  );
  const math = await courses.listFavorites({ category: "math" }, me.auth);
  assert.equal(
    math.courses.map((c) => c.title),
    ["Geometry", "Algebra"],
  );
  const named = await courses.listFavorites({ name: "poe" }, me.auth);
  assert.equal(
    named.courses.map((c) => c.title),
    ["Poetry"],
  );
  const p1 = await courses.listFavorites({ pageSize: 2 }, me.auth);
  const p2 = await courses.listFavorites({ pageSize: 2, pageToken: p1.nextPageToken }, me.auth);
  assert.equal(
    [...p1.courses, ...p2.courses].map((c) => c.title),
    ["Poetry", "Geometry", "Algebra"],
  );
  await courses.removeFavorite({ courseId: ids[2]! }, me.auth);
  // Unmarking again (a retry) succeeds and changes nothing, as marking again does.
  await courses.removeFavorite({ courseId: ids[2]! }, me.auth);
  assert.is((await courses.listFavorites({}, me.auth)).courses.length, 2);
  // A deleted course leaves the list; unmarking it still succeeds (the mark is still there to remove).
  const geometry = (await courses.getCourse({ courseId: ids[1]! }, owner.auth)).course!;
  await courses.deleteCourse({ courseId: geometry.id, etag: geometry.etag }, owner.auth);
  assert.equal(
    (await courses.listFavorites({}, me.auth)).courses.map((c) => c.title),
    ["Algebra"],
  );
  await courses.removeFavorite({ courseId: geometry.id }, me.auth);
  const unknown = await rejects(courses.removeFavorite({ courseId: randomUUID() }, me.auth), Code.NotFound);
  assert.match(unknown.rawMessage, "course not found");
  await invalid(courses.removeFavorite({ courseId: "x" }, me.auth), ["course_id"]);
  assert.is((await courses.listFavorites({}, owner.auth)).courses.length, 0, "favorites are per user");
  await rejects(courses.addFavorite({ courseId: randomUUID() }, me.auth), Code.NotFound);
  await invalid(courses.addFavorite({ courseId: "x" }, me.auth), ["course_id"]);
  await rejects(courses.listFavorites({}), Code.Unauthenticated);
});

test("UploadCoursePicture stores an image by content for teachers with the content permission; a replaced upload is deleted", async ({
  sys,
}) => {
  const courses = sys.client(CourseService);
  const owner = await sys.register();
  const editor = await sys.register();
  const student = await sys.register();
  const c = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
  await sys
    .client(StaffService)
    .addAssistant({ courseId: c.id, userId: editor.userId, permissions: [Permission.CONTENT] }, owner.auth);
  await sys.client(EnrollmentService).enroll({ courseId: c.id }, student.auth);
  const served = async (url: string) => {
    const res = await fetch(url);
    return res.ok ? Buffer.from(await res.arrayBuffer()) : res.status;
  };

  const first = (await courses.uploadCoursePicture({ courseId: c.id, content: TEST_PNG }, owner.auth))
    .course!;
  assert.match(first.pictureUrl, new RegExp(`/courses/${c.id}/[^/]+\\.png$`));
  assert.equal(await served(first.pictureUrl), TEST_PNG, "public, like an avatar");
  assert.is(first.etag, 'W/"2"', "a new version: an edit from before it is refused");
  const second = (await courses.uploadCoursePicture({ courseId: c.id, content: TEST_JPEG }, editor.auth))
    .course!;
  assert.match(second.pictureUrl, /\.jpg$/);
  assert.is(await served(first.pictureUrl), 404, "the picture it replaced is deleted");
  assert.equal(await served(second.pictureUrl), TEST_JPEG);
  // A picture given by URL replaces the uploaded one, whose file goes too.
  const linked = (
    await courses.updateCourse(
      {
        courseId: c.id,
        etag: second.etag,
        course: { pictureUrl: "https://pictures.example.com/raft.png" },
        updateMask: { paths: ["picture_url"] },
      },
      owner.auth,
    )
  ).course!;
  assert.is(linked.pictureUrl, "https://pictures.example.com/raft.png");
  assert.is(await served(second.pictureUrl), 404);

  // Refusals change nothing.
  await rejects(
    courses.uploadCoursePicture({ courseId: c.id, content: Buffer.from("<svg/>") }, owner.auth),
    Code.InvalidArgument,
    "IMAGE_TYPE",
  );
  await invalid(courses.uploadCoursePicture({ courseId: c.id, content: new Uint8Array() }, owner.auth), [
    "content",
  ]);
  await invalid(courses.uploadCoursePicture({ courseId: "x", content: TEST_PNG }, owner.auth), ["course_id"]);
  await rejects(
    courses.uploadCoursePicture({ courseId: c.id, content: TEST_PNG }, student.auth),
    Code.PermissionDenied,
  );
  await rejects(
    courses.uploadCoursePicture({ courseId: randomUUID(), content: TEST_PNG }, owner.auth),
    Code.NotFound,
  );
  await rejects(courses.uploadCoursePicture({ courseId: c.id, content: TEST_PNG }), Code.Unauthenticated);
  const after = (await courses.getCourse({ courseId: c.id }, student.auth)).course!;
  assert.is(after.pictureUrl, "https://pictures.example.com/raft.png");
  const log = await sys.client(StaffService).listActivity({ courseId: c.id }, owner.auth);
  assert.equal(
    log.entries.map((e) => [e.actorId, e.action]),
    [[editor.userId, "course.picture"]],
  );
});

test.run();
