import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type System, startSystem } from "@classconnect/gateway/testing";
import {
  AssessmentKind,
  LatePolicy,
  QuestionKind,
} from "@classconnect/gen/classconnect/courses/v1/assessment_pb.js";
import {
  AssessmentInputSchema,
  AssessmentService,
} from "@classconnect/gen/classconnect/courses/v1/assessment_service_pb.js";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { Permission, StaffService } from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import { StatisticsService } from "@classconnect/gen/classconnect/courses/v1/statistics_service_pb.js";
import { SubmissionService } from "@classconnect/gen/classconnect/courses/v1/submission_service_pb.js";
import { Code } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { csvField } from "../src/domain/statistics.js";
import { at, courseInput, DAY, invalid, rejects } from "./fixtures.js";

const test = suite<{ sys: System }>("courses: StatisticsService");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

/** Monday 00:00 UTC of the week containing `d`. */
function mondayOf(d: Date): number {
  const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  return day.getTime() - ((day.getUTCDay() + 6) % 7) * DAY;
}

test("figures match a fixture computed by hand", async ({ sys }) => {
  const assessments = sys.client(AssessmentService);
  const submissions = sys.client(SubmissionService);
  const stats = sys.client(StatisticsService);
  const owner = await sys.register();
  const analyst = await sys.register();
  const editor = await sys.register();
  const names = ["Ana", "Bo", "Cid", "Dee"];
  // Dee's last name is a spreadsheet formula: the CSV must keep it text.
  const students = await Promise.all(
    names.map((firstName) => sys.register({ firstName, lastName: firstName === "Dee" ? "=1+2" : "Doe" })),
  );
  const [s1, s2, s3, s4] = students as [
    (typeof students)[0],
    (typeof students)[0],
    (typeof students)[0],
    (typeof students)[0],
  ];
  const courseId = (await sys.client(CourseService).createCourse({ course: courseInput() }, owner.auth))
    .course!.id;
  await sys
    .client(StaffService)
    .addAssistant({ courseId, userId: analyst.userId, permissions: [Permission.STATISTICS] }, owner.auth);
  await sys
    .client(StaffService)
    .addAssistant({ courseId, userId: editor.userId, permissions: [Permission.CONTENT] }, owner.auth);
  for (const s of students) await sys.client(EnrollmentService).enroll({ courseId }, s.auth);

  const task = (title: string, questions: object[]) =>
    create(AssessmentInputSchema, {
      kind: AssessmentKind.TASK,
      title,
      dueTime: at(1 * DAY),
      latePolicy: LatePolicy.ACCEPT_FLAGGED,
      passingScore: 50,
      questions: questions as never,
    });
  const tf = { id: "tf", kind: QuestionKind.TRUE_FALSE, prompt: "True?", points: 10, correctBool: true };
  const a1 = (await assessments.createAssessment({ courseId, assessment: task("A1", [tf]) }, owner.auth))
    .assessment!;
  const a2 = (
    await assessments.createAssessment(
      {
        courseId,
        assessment: task("A2", [
          {
            id: "ch",
            kind: QuestionKind.SINGLE_CHOICE,
            prompt: "Pick",
            points: 4,
            options: [
              { id: "x", text: "x", correct: true },
              { id: "y", text: "y" },
            ],
          },
          { ...tf, points: 6 },
        ]),
      },
      owner.auth,
    )
  ).assessment!;
  await assessments.createAssessment({ courseId, assessment: task("Draft", [tf]) }, owner.auth);
  for (const a of [a1, a2]) await assessments.publishAssessment({ assessmentId: a.id }, owner.auth);

  const before = Date.now();
  // A1: s1 right (100), s2 wrong (0), s3 right (100); s4 hands in nothing.
  await submissions.submitAssessment(
    { assessmentId: a1.id, answers: [{ questionId: "tf", boolValue: true }] },
    s1.auth,
  );
  await submissions.submitAssessment(
    { assessmentId: a1.id, answers: [{ questionId: "tf", boolValue: false }] },
    s2.auth,
  );
  await submissions.submitAssessment(
    { assessmentId: a1.id, answers: [{ questionId: "tf", boolValue: true }] },
    s3.auth,
  );
  // A2: s1 on time, choice right and true/false wrong (4 of 10 = 40); s2 eight days later, late, all right (100).
  await submissions.submitAssessment(
    {
      assessmentId: a2.id,
      answers: [
        { questionId: "ch", optionIds: ["x"] },
        { questionId: "tf", boolValue: false },
      ],
    },
    s1.auth,
  );
  sys.clock.advance(8 * DAY);
  await submissions.submitAssessment(
    {
      assessmentId: a2.id,
      answers: [
        { questionId: "ch", optionIds: ["x"] },
        { questionId: "tf", boolValue: true },
      ],
    },
    s2.auth,
  );
  sys.clock.advance(-8 * DAY);

  const course = await stats.getCourseStatistics({ courseId }, analyst.auth);
  assert.is(course.studentCount, 4);
  assert.is(course.averageGrade, 68, "(100 + 0 + 100 + 40 + 100) / 5");
  assert.is(course.completionRate, 0.625, "5 hand-ins of 4 students × 2 published");
  assert.equal(
    course.assessments.map((a) => [a.title, a.averageGrade, a.completionRate, a.submissionCount]),
    [
      ["A1", 66.67, 0.75, 3],
      ["A2", 70, 0.5, 2],
    ],
  );
  const firstWeek = mondayOf(new Date(before));
  const lateWeek = mondayOf(new Date(before + 8 * DAY));
  assert.equal(
    course.trend.map((w) => [timestampDate(w.weekStart!).getTime(), w.averageGrade, w.submissionCount]),
    [
      [firstWeek, 60, 4],
      [lateWeek, 100, 1],
    ],
  );
  const period = await stats.getCourseStatistics(
    { courseId, fromTime: timestampFromDate(new Date(before + DAY)) },
    owner.auth,
  );
  assert.equal([period.averageGrade, period.completionRate], [100, 0.125]);

  const figures = (r: {
    averageGrade: number;
    completionRate: number;
    submittedCount: number;
    lateCount: number;
    gradedCount: number;
  }) => [r.averageGrade, r.completionRate, r.submittedCount, r.lateCount, r.gradedCount];
  const second = await stats.getStudentStatistics({ courseId, studentId: s2.userId }, owner.auth);
  assert.equal(figures(second), [50, 1, 2, 1, 2]);
  const own = await stats.getStudentStatistics({ courseId, studentId: s4.userId }, s4.auth);
  assert.equal(figures(own), [0, 0, 0, 0, 0]);
  // A student sees their grades only once final, in their statistics as in their submissions.
  const mine = () => stats.getStudentStatistics({ courseId, studentId: s2.userId }, s2.auth);
  assert.equal(figures(await mine()), [0, 1, 2, 1, 0], "nothing final yet");
  const handedIn = (await submissions.listSubmissions({ assessmentId: a2.id }, owner.auth)).submissions;
  await submissions.finalizeGrade(
    { submissionId: handedIn.find((x) => x.studentId === s2.userId)!.id },
    owner.auth,
  );
  assert.equal(figures(await mine()), [100, 1, 2, 1, 1], "A2's grade, final");
  assert.equal(
    figures(await stats.getStudentStatistics({ courseId, studentId: s2.userId }, analyst.auth)),
    [50, 1, 2, 1, 2],
    "staff still see both",
  );

  let csv = "";
  for await (const part of stats.exportCourseStatistics({ courseId }, analyst.auth))
    csv += new TextDecoder().decode(part.chunk);
  const lines = csv.trim().split("\n");
  assert.is(lines[0], "student_id,first_name,last_name,submitted,late,average_grade,final_grade");
  const byName = Object.fromEntries(lines.slice(1).map((l) => [l.split(",")[1], l.split(",").slice(3)]));
  assert.equal(byName, {
    Ana: ["2", "0", "70", ""],
    Bo: ["2", "1", "50", ""],
    Cid: ["1", "0", "100", ""],
    Dee: ["0", "0", "0", ""],
  });
  const lastNames = Object.fromEntries(lines.slice(1).map((l) => [l.split(",")[1], l.split(",")[2]]));
  assert.equal(lastNames, { Ana: "Doe", Bo: "Doe", Cid: "Doe", Dee: "'=1+2" });

  // Who may see what.
  await rejects(
    stats.getCourseStatistics({ courseId }, editor.auth),
    Code.PermissionDenied,
    "MISSING_PERMISSION",
  );
  await rejects(stats.getCourseStatistics({ courseId }, s1.auth), Code.PermissionDenied);
  await rejects(
    stats.getStudentStatistics({ courseId, studentId: s2.userId }, s1.auth),
    Code.PermissionDenied,
  );
  await rejects(
    (async () => {
      for await (const _ of stats.exportCourseStatistics({ courseId }, s1.auth)) break;
    })(),
    Code.PermissionDenied,
  );
  await invalid(stats.getCourseStatistics({ courseId: "x" }, owner.auth), ["course_id"]);
  await invalid(stats.getCourseStatistics({ courseId, fromTime: at(DAY), toTime: at(-DAY) }, owner.auth), [
    "to_time",
  ]);
  await invalid(stats.getStudentStatistics({ courseId, studentId: "x" }, owner.auth), ["student_id"]);
  await rejects(stats.getCourseStatistics({ courseId }), Code.Unauthenticated);

  // Cid leaves: the course's figures are its current students', so a rate cannot pass 1.
  await sys.client(EnrollmentService).unenroll({ courseId }, s3.auth);
  const after = await stats.getCourseStatistics({ courseId }, owner.auth);
  assert.equal([after.studentCount, after.averageGrade, after.completionRate], [3, 60, 0.6667]);
  assert.equal(
    after.assessments.map((a) => [a.title, a.averageGrade, a.completionRate, a.submissionCount]),
    [
      ["A1", 50, 0.6667, 2],
      ["A2", 70, 0.6667, 2],
    ],
  );
  assert.equal(
    after.trend.map((w) => w.submissionCount),
    [3, 1],
  );
});

test.run();

const csv = suite("courses: CSV fields");
csv("quoted as RFC 4180 says; text a spreadsheet would run as a formula stays text", () => {
  assert.equal(["Ana", 'Say "hi"', "a,b", "two\nlines", 70, -1.5, ""].map(csvField), [
    "Ana",
    '"Say ""hi"""',
    '"a,b"',
    '"two\nlines"',
    "70",
    "-1.5",
    "",
  ]);
  assert.equal(["=1+2", "+1", "-1", "@SUM(A1)", "\tx", '=HYPERLINK("http://x.example","y")'].map(csvField), [
    "'=1+2",
    "'+1",
    "'-1",
    "'@SUM(A1)",
    "'\tx",
    '"\'=HYPERLINK(""http://x.example"",""y"")"',
  ]);
});
csv.run();
