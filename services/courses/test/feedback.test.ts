import { type System, startSystem } from "@classconnect/gateway/testing";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { FeedbackService } from "@classconnect/gen/classconnect/courses/v1/feedback_service_pb.js";
import { Permission, StaffService } from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { courseInput, invalid, rejects } from "./fixtures.js";

const test = suite<{ sys: System }>("courses: FeedbackService");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

test("students rate a course once; teachers list ratings with filters and the average", async ({ sys }) => {
  const feedback = sys.client(FeedbackService);
  const owner = await sys.register();
  const helper = await sys.register();
  const students = [await sys.register(), await sys.register(), await sys.register()];
  const stranger = await sys.register();
  const c = (await sys.client(CourseService).createCourse({ course: courseInput() }, owner.auth)).course!;
  await sys
    .client(StaffService)
    .addAssistant(
      { courseId: c.id, userId: helper.userId, permissions: [Permission.STATISTICS] },
      owner.auth,
    );
  for (const s of students) await sys.client(EnrollmentService).enroll({ courseId: c.id }, s.auth);
  const ratings = [5, 4, 5];
  for (const [i, s] of students.entries()) {
    const res = await feedback.createCourseFeedback(
      { courseId: c.id, rating: ratings[i]!, comment: `c${i}` },
      s.auth,
    );
    assert.equal([res.feedback?.rating, res.feedback?.studentId], [ratings[i], s.userId]);
  }
  await rejects(
    feedback.createCourseFeedback({ courseId: c.id, rating: 1 }, students[0]!.auth),
    Code.AlreadyExists,
    "ALREADY_RATED",
  );
  await rejects(
    feedback.createCourseFeedback({ courseId: c.id, rating: 3 }, stranger.auth),
    Code.PermissionDenied,
    "NOT_ENROLLED",
  );
  await rejects(
    feedback.createCourseFeedback({ courseId: c.id, rating: 3 }, owner.auth),
    Code.PermissionDenied,
    "NOT_ENROLLED",
  );
  await invalid(feedback.createCourseFeedback({ courseId: c.id, rating: 0 }, students[0]!.auth), ["rating"]);
  await invalid(feedback.createCourseFeedback({ courseId: c.id, rating: 6 }, students[0]!.auth), ["rating"]);
  await invalid(
    feedback.createCourseFeedback(
      { courseId: c.id, rating: 3, comment: "x".repeat(2001) },
      students[0]!.auth,
    ),
    ["comment"],
  );

  const all = await feedback.listCourseFeedback({ courseId: c.id }, helper.auth);
  assert.equal(
    all.feedback.map((f) => f.comment),
    ["c2", "c1", "c0"],
  );
  assert.ok(Math.abs(all.averageRating - 14 / 3) < 1e-9);
  const fives = await feedback.listCourseFeedback({ courseId: c.id, rating: 5 }, owner.auth);
  assert.equal(
    fives.feedback.map((f) => f.comment),
    ["c2", "c0"],
  );
  const p1 = await feedback.listCourseFeedback({ courseId: c.id, pageSize: 2 }, owner.auth);
  const p2 = await feedback.listCourseFeedback(
    { courseId: c.id, pageSize: 2, pageToken: p1.nextPageToken },
    owner.auth,
  );
  assert.equal(
    [...p1.feedback, ...p2.feedback].map((f) => f.comment),
    ["c2", "c1", "c0"],
  );
  await rejects(feedback.listCourseFeedback({ courseId: c.id }, students[0]!.auth), Code.PermissionDenied);
  await invalid(feedback.listCourseFeedback({ courseId: c.id, rating: 7 }, owner.auth), ["rating"]);
});

test("teachers with the grading permission give students feedback; students list what they received", async ({
  sys,
}) => {
  const feedback = sys.client(FeedbackService);
  const owner = await sys.register();
  const grader = await sys.register();
  const editor = await sys.register();
  const student = await sys.register();
  const other = await sys.register();
  const courses = sys.client(CourseService);
  const c1 = (await courses.createCourse({ course: courseInput({ title: "First" }) }, owner.auth)).course!;
  const c2 = (await courses.createCourse({ course: courseInput({ title: "Second" }) }, owner.auth)).course!;
  await sys
    .client(StaffService)
    .addAssistant({ courseId: c1.id, userId: grader.userId, permissions: [Permission.GRADING] }, owner.auth);
  await sys
    .client(StaffService)
    .addAssistant({ courseId: c1.id, userId: editor.userId, permissions: [Permission.CONTENT] }, owner.auth);
  await sys.client(EnrollmentService).enroll({ courseId: c1.id }, student.auth);
  await sys.client(EnrollmentService).enroll({ courseId: c2.id }, student.auth);

  const given = await feedback.createStudentFeedback(
    { courseId: c1.id, studentId: student.userId, score: 88, comment: "Good work" },
    grader.auth,
  );
  assert.equal([given.feedback?.authorId, given.feedback?.score], [grader.userId, 88]);
  await feedback.createStudentFeedback(
    { courseId: c2.id, studentId: student.userId, score: 70, comment: "Keep going" },
    owner.auth,
  );
  await rejects(
    feedback.createStudentFeedback(
      { courseId: c1.id, studentId: student.userId, score: 50, comment: "x" },
      editor.auth,
    ),
    Code.PermissionDenied,
    "MISSING_PERMISSION",
  );
  await rejects(
    feedback.createStudentFeedback(
      { courseId: c1.id, studentId: other.userId, score: 50, comment: "x" },
      owner.auth,
    ),
    Code.FailedPrecondition,
    "STUDENT_NOT_ENROLLED",
  );
  await rejects(
    feedback.createStudentFeedback(
      { courseId: c1.id, studentId: student.userId, score: 50, comment: "x" },
      other.auth,
    ),
    Code.PermissionDenied,
  );
  await invalid(
    feedback.createStudentFeedback(
      { courseId: c1.id, studentId: student.userId, score: 101, comment: "x" },
      owner.auth,
    ),
    ["score"],
  );
  await invalid(
    feedback.createStudentFeedback(
      { courseId: c1.id, studentId: student.userId, score: 1, comment: "" },
      owner.auth,
    ),
    ["comment"],
  );

  const mine = await feedback.listMyFeedback({}, student.auth);
  assert.equal(
    mine.feedback.map((f) => f.comment),
    ["Keep going", "Good work"],
  );
  const first = await feedback.listMyFeedback({ courseId: c1.id }, student.auth);
  assert.equal(
    first.feedback.map((f) => f.comment),
    ["Good work"],
  );
  assert.equal((await feedback.listMyFeedback({}, other.auth)).feedback, []);
  await invalid(feedback.listMyFeedback({ courseId: "nope" }, student.auth), ["course_id"]);
  await rejects(feedback.listMyFeedback({}), Code.Unauthenticated);

  const log = await sys.client(StaffService).listActivity({ courseId: c1.id }, owner.auth);
  assert.equal(
    log.entries.map((e) => [e.actorId, e.action, e.resourceId, e.details]),
    [[grader.userId, "feedback.give", given.feedback!.id, `score ${given.feedback!.score}`]],
  );
  const sql = postgres(sys.databases.courses, { max: 1 });
  try {
    const events =
      await sql`select 1 from outbox where event_type = 'FEEDBACK_RECEIVED' and recipients->'userIds' ? ${student.userId}`;
    assert.is(events.length, 2);
  } finally {
    await sql.end();
  }
});

test.run();
