import { randomUUID } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import { join, sep } from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type System, startSystem, type TestUser } from "@classconnect/gateway/testing";
import {
  AssessmentKind,
  AssessmentState,
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
import { SubmissionState } from "@classconnect/gen/classconnect/courses/v1/submission_pb.js";
import { SubmissionService } from "@classconnect/gen/classconnect/courses/v1/submission_service_pb.js";
import { EventType } from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import { FailedPreconditionError, NotFoundError } from "@classconnect/platform";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createAssessmentStore } from "../src/store/assessments.js";
import { createEnrollmentStore } from "../src/store/enrollments.js";
import { at, courseInput, DAY, errorMetadata, invalid, rejects } from "./fixtures.js";

type Init = MessageInitShape<typeof AssessmentInputSchema>;

/** An exam of four questions (1 + 2 + 3 + 4 = 10 points). */
function exam(overrides: Init = {}) {
  return create(AssessmentInputSchema, {
    kind: AssessmentKind.EXAM,
    title: "Midterm",
    instructions: "Answer all questions",
    dueTime: at(2 * DAY),
    latePolicy: LatePolicy.ACCEPT_FLAGGED,
    timeLimitMinutes: 60,
    passingScore: 50,
    questions: [
      {
        id: "q1",
        kind: QuestionKind.SINGLE_CHOICE,
        prompt: "2 + 2?",
        points: 1,
        options: [
          { id: "a", text: "3" },
          { id: "b", text: "4", correct: true },
        ],
      },
      {
        id: "q2",
        kind: QuestionKind.MULTIPLE_CHOICE,
        prompt: "Primes?",
        points: 2,
        options: [
          { id: "a", text: "2", correct: true },
          { id: "b", text: "3", correct: true },
          { id: "c", text: "4" },
        ],
      },
      { id: "q3", kind: QuestionKind.TRUE_FALSE, prompt: "The sky is green", points: 3, correctBool: false },
      { id: "q4", kind: QuestionKind.FREE_TEXT, prompt: "Explain Raft", points: 4 },
    ],
    ...overrides,
  });
}

interface Ctx {
  sys: System;
  owner: TestUser;
  grader: TestUser;
  editor: TestUser;
  s1: TestUser;
  s2: TestUser;
  stranger: TestUser;
  courseId: string;
}

/** A task (exam() with no time limit, and `overrides`) the owner created and published. */
async function publishedTask({ sys, owner, courseId }: Ctx, overrides: Init) {
  const assessments = sys.client(AssessmentService);
  const task = (
    await assessments.createAssessment(
      { courseId, assessment: exam({ kind: AssessmentKind.TASK, timeLimitMinutes: 0, ...overrides }) },
      owner.auth,
    )
  ).assessment!;
  await assessments.publishAssessment({ assessmentId: task.id }, owner.auth);
  return task;
}

/** A course of the owner's own, with a newly registered student enrolled for each of `names`. */
async function ownCourse<Names extends string[]>(
  { sys, owner }: Ctx,
  ...names: Names
): Promise<{ courseId: string; students: { [K in keyof Names]: TestUser } }> {
  const courseId = (await sys.client(CourseService).createCourse({ course: courseInput() }, owner.auth))
    .course!.id;
  const students: TestUser[] = [];
  for (const _ of names) {
    const student = await sys.register();
    await sys.client(EnrollmentService).enroll({ courseId }, student.auth);
    students.push(student);
  }
  return { courseId, students: students as { [K in keyof Names]: TestUser } };
}

/** A hand-in with no answers, for writing to the store directly. */
const emptyHandIn = () => ({
  state: SubmissionState.SUBMITTED,
  answers: [],
  submittedAt: new Date(),
  scores: [],
  totalScore: 0,
  maxScore: 10,
  gradePercent: null,
  passed: null,
  pendingQuestionIds: [],
});

const test = suite<Ctx>("courses: assessments and submissions");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
  const sys = ctx.sys;
  const users = await Promise.all(Array.from({ length: 6 }, () => sys.register()));
  [ctx.owner, ctx.grader, ctx.editor, ctx.s1, ctx.s2, ctx.stranger] = users as [
    TestUser,
    TestUser,
    TestUser,
    TestUser,
    TestUser,
    TestUser,
  ];
  ctx.courseId = (await sys.client(CourseService).createCourse({ course: courseInput() }, ctx.owner.auth))
    .course!.id;
  const staff = sys.client(StaffService);
  await staff.addAssistant(
    { courseId: ctx.courseId, userId: ctx.grader.userId, permissions: [Permission.GRADING] },
    ctx.owner.auth,
  );
  await staff.addAssistant(
    { courseId: ctx.courseId, userId: ctx.editor.userId, permissions: [Permission.CONTENT] },
    ctx.owner.auth,
  );
  for (const s of [ctx.s1, ctx.s2])
    await sys.client(EnrollmentService).enroll({ courseId: ctx.courseId }, s.auth);
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

test("authoring: content permission to create and edit; drafts hidden from students; publish notifies the course", async (ctx) => {
  const { sys, owner, editor, grader, s1, stranger, courseId } = ctx;
  const assessments = sys.client(AssessmentService);
  const draft = (await assessments.createAssessment({ courseId, assessment: exam() }, editor.auth))
    .assessment!;
  assert.equal([draft.state, draft.questions.length, draft.submissionCount], [AssessmentState.DRAFT, 4, 0]);
  await rejects(
    assessments.createAssessment({ courseId, assessment: exam() }, grader.auth),
    Code.PermissionDenied,
    "MISSING_PERMISSION",
  );
  await rejects(
    assessments.createAssessment({ courseId, assessment: exam() }, s1.auth),
    Code.PermissionDenied,
  );
  await rejects(assessments.getAssessment({ assessmentId: draft.id }, s1.auth), Code.NotFound);
  await rejects(assessments.getAssessment({ assessmentId: draft.id }, stranger.auth), Code.PermissionDenied);

  const edited = await assessments.updateAssessment(
    { assessmentId: draft.id, assessment: { title: "Midterm exam" }, updateMask: { paths: ["title"] } },
    owner.auth,
  );
  assert.is(edited.assessment?.title, "Midterm exam");
  await invalid(
    assessments.updateAssessment(
      {
        assessmentId: draft.id,
        assessment: { timeLimitMinutes: 0 },
        updateMask: { paths: ["time_limit_minutes"] },
      },
      owner.auth,
    ),
    ["assessment.time_limit_minutes"],
  );
  await invalid(
    assessments.updateAssessment({ assessmentId: draft.id, updateMask: { paths: ["state"] } }, owner.auth),
    ["update_mask"],
  );
  // A mask without an assessment clears what it names, which is validated like any other value.
  await invalid(
    assessments.updateAssessment(
      { assessmentId: draft.id, updateMask: { paths: ["title", "due_time", "kind"] } },
      owner.auth,
    ),
    ["assessment.due_time", "assessment.kind", "assessment.title"],
  );

  const published = await assessments.publishAssessment({ assessmentId: draft.id }, owner.auth);
  assert.is(published.assessment?.state, AssessmentState.PUBLISHED);
  await rejects(
    assessments.publishAssessment({ assessmentId: draft.id }, owner.auth),
    Code.FailedPrecondition,
    "ALREADY_PUBLISHED",
  );
  // An exam's questions reach a student only from StartAttempt on (see the exam test); its size before.
  const seen = (await assessments.getAssessment({ assessmentId: draft.id }, s1.auth)).assessment!;
  assert.equal(
    [seen.title, seen.instructions, seen.questions.length, seen.questionCount, seen.totalPoints],
    ["Midterm exam", "Answer all questions", 0, 4, 10],
  );
  const teacherView = (await assessments.getAssessment({ assessmentId: draft.id }, grader.auth)).assessment!;
  assert.equal(
    [teacherView.questions.length, teacherView.questionCount, teacherView.totalPoints],
    [4, 4, 10],
  );
  assert.ok(teacherView.questions[0]!.options.some((o) => o.correct));
  const sql = postgres(sys.databases.courses, { max: 1 });
  try {
    const [event] = await sql<{ recipients: { courseId: string } }[]>`
      select recipients from outbox where event_type = 'ASSESSMENT_PUBLISHED' and data->>'assessment_id' = ${draft.id}`;
    assert.equal(event?.recipients, { courseId });
  } finally {
    await sql.end();
  }
  await rejects(
    assessments.deleteAssessment({ assessmentId: draft.id, confirm: true }, s1.auth),
    Code.PermissionDenied,
  );
  await invalid(assessments.deleteAssessment({ assessmentId: draft.id, confirm: false }, owner.auth), [
    "confirm",
  ]);
});

test("invalid assessments name their fields", async (ctx) => {
  const { sys, owner, courseId } = ctx;
  const assessments = sys.client(AssessmentService);
  const make = (o: Init) => assessments.createAssessment({ courseId, assessment: exam(o) }, owner.auth);
  await invalid(make({ title: "" }), ["assessment.title"]);
  await invalid(make({ kind: AssessmentKind.UNSPECIFIED }), ["assessment.kind"]);
  await invalid(make({ timeLimitMinutes: 0 }), ["assessment.time_limit_minutes"]);
  await invalid(make({ latePolicy: LatePolicy.PENALTY }), ["assessment.late_penalty_percent"]);
  await invalid(make({ questions: [] }), ["assessment.questions"]);
  await invalid(make({ dueTime: undefined }), ["assessment.due_time"]);
  await invalid(make({ questions: [{ id: "x", kind: QuestionKind.FREE_TEXT, prompt: "p", points: 0 }] }), [
    "assessment.questions[0].points",
  ]);
  await invalid(
    make({
      questions: [
        {
          id: "x",
          kind: QuestionKind.SINGLE_CHOICE,
          prompt: "p",
          points: 1,
          options: [
            { id: "a", text: "a", correct: true },
            { id: "b", text: "b", correct: true },
          ],
        },
      ],
    }),
    ["assessment.questions[0].options"],
  );
  await invalid(
    make({
      questions: [
        { id: "x", kind: QuestionKind.FREE_TEXT, prompt: "p", points: 1 },
        { id: "x", kind: QuestionKind.FREE_TEXT, prompt: "q", points: 1 },
      ],
    }),
    ["assessment.questions[1].id"],
  );
  await invalid(make({ kind: AssessmentKind.TASK, timeLimitMinutes: 30 }), ["assessment.time_limit_minutes"]);
});

test("an exam: started, handed in on time and late, auto-graded, graded by hand, finalized", async (ctx) => {
  const { sys, owner, grader, editor, s1, s2, stranger, courseId } = ctx;
  const assessments = sys.client(AssessmentService);
  const submissions = sys.client(SubmissionService);
  const a = (
    await assessments.createAssessment({ courseId, assessment: exam({ title: "Final" }) }, owner.auth)
  ).assessment!;
  await rejects(submissions.startAttempt({ assessmentId: a.id }, s1.auth), Code.NotFound, undefined);
  await assessments.publishAssessment({ assessmentId: a.id }, owner.auth);
  await rejects(
    submissions.submitAssessment(
      { assessmentId: a.id, answers: [{ questionId: "q1", optionIds: ["b"] }] },
      s1.auth,
    ),
    Code.FailedPrecondition,
    "NOT_STARTED",
  );

  const started = await submissions.startAttempt({ assessmentId: a.id }, s1.auth);
  assert.is(started.submission?.state, SubmissionState.IN_PROGRESS);
  // The questions come with the attempt, and GetAssessment shows them from now on: never the answers.
  const shown = (await assessments.getAssessment({ assessmentId: a.id }, s1.auth)).assessment!;
  for (const questions of [started.assessment!.questions, shown.questions]) {
    assert.equal(
      questions.map((q) => [q.id, q.prompt, q.options.map((o) => o.text)]),
      [
        ["q1", "2 + 2?", ["3", "4"]],
        ["q2", "Primes?", ["2", "3", "4"]],
        ["q3", "The sky is green", []],
        ["q4", "Explain Raft", []],
      ],
    );
    assert.ok(
      questions.every((q) => !q.correctBool && q.options.every((o) => !o.correct)),
      "students never see answers",
    );
  }
  // Another student, who has not started, still sees none.
  assert.is(
    (await assessments.getAssessment({ assessmentId: a.id }, s2.auth)).assessment!.questions.length,
    0,
  );
  const limit =
    Number(started.deadline!.seconds) * 1000 - Number(started.submission!.startTime!.seconds) * 1000;
  assert.ok(Math.abs(limit - 60 * 60_000) <= 1000, "deadline = start + 60 min");
  await rejects(
    submissions.startAttempt({ assessmentId: a.id }, stranger.auth),
    Code.PermissionDenied,
    "NOT_ENROLLED",
  );

  // Bad answers change nothing.
  await rejects(
    submissions.submitAssessment({ assessmentId: a.id, answers: [{ questionId: "q9", text: "?" }] }, s1.auth),
    Code.InvalidArgument,
    "UNKNOWN_QUESTION",
  );
  await rejects(
    submissions.submitAssessment(
      { assessmentId: a.id, answers: [{ questionId: "q1", optionIds: ["z"] }] },
      s1.auth,
    ),
    Code.InvalidArgument,
    "UNKNOWN_OPTION",
  );
  await invalid(
    submissions.submitAssessment(
      { assessmentId: a.id, answers: [{ questionId: "q4", text: "x".repeat(20001) }] },
      s1.auth,
    ),
    ["answers[0].text"],
  );
  await invalid(
    submissions.submitAssessment(
      { assessmentId: a.id, answers: [{ questionId: "q1", optionIds: ["a", "b"] }] },
      s1.auth,
    ),
    ["answers[0].option_ids"],
  );
  await invalid(
    submissions.submitAssessment({ assessmentId: a.id, answers: [{ questionId: "q3" }] }, s1.auth),
    ["answers[0].bool_value"],
  );
  await invalid(submissions.submitAssessment({ assessmentId: a.id, answers: [] }, s1.auth), ["answers"]);

  // s1 hands in on time: q1 right (1), q2 half-right (0: all-or-nothing), q3 right (3), q4 for review.
  const onTime = (
    await submissions.submitAssessment(
      {
        assessmentId: a.id,
        answers: [
          { questionId: "q1", optionIds: ["b"] },
          { questionId: "q2", optionIds: ["a"] },
          { questionId: "q3", boolValue: false },
          { questionId: "q4", text: "Leader election and log replication" },
        ],
      },
      s1.auth,
    )
  ).submission!;
  assert.equal(
    [onTime.state, onTime.late, onTime.pendingQuestionIds],
    [SubmissionState.SUBMITTED, false, ["q4"]],
  );
  assert.equal(onTime.scores, [], "the student sees no score before the grade is final");
  await rejects(
    submissions.submitAssessment(
      { assessmentId: a.id, answers: [{ questionId: "q1", optionIds: ["a"] }] },
      s1.auth,
    ),
    Code.FailedPrecondition,
    "ALREADY_SUBMITTED",
  );

  // s2 starts, then runs 61 minutes over: accepted but flagged (policy ACCEPT_FLAGGED).
  await submissions.startAttempt({ assessmentId: a.id }, s2.auth);
  sys.clock.advance(61 * 60_000);
  const overTime = (
    await submissions.submitAssessment(
      {
        assessmentId: a.id,
        answers: [
          { questionId: "q1", optionIds: ["b"] },
          { questionId: "q3", boolValue: true },
        ],
      },
      s2.auth,
    )
  ).submission!;
  assert.equal(
    [overTime.late, overTime.state, overTime.pendingQuestionIds],
    [true, SubmissionState.SUBMITTED, []],
  );

  // Visibility: the other student and strangers cannot read s1's work; graders can.
  const other = await rejects(
    submissions.getSubmission({ submissionId: onTime.id }, s2.auth),
    Code.PermissionDenied,
    "NOT_YOUR_SUBMISSION",
  );
  assert.is(other.rawMessage, "you can read only your own submissions");
  await rejects(
    submissions.getSubmission({ submissionId: onTime.id }, stranger.auth),
    Code.PermissionDenied,
    "NOT_YOUR_SUBMISSION",
  );
  await rejects(
    submissions.getSubmission({ submissionId: onTime.id }, editor.auth),
    Code.PermissionDenied,
    "MISSING_PERMISSION",
  );
  const forGrader = (await submissions.getSubmission({ submissionId: onTime.id }, grader.auth)).submission!;
  assert.equal(
    forGrader.scores.map((s) => [s.questionId, s.score, s.autoGraded]),
    [
      ["q1", 1, true],
      ["q2", 0, true],
      ["q3", 3, true],
    ],
  );
  assert.is(forGrader.totalScore, 4);
  assert.is(forGrader.maxScore, 10);

  const listed = await submissions.listSubmissions({ assessmentId: a.id }, grader.auth);
  assert.equal(listed.submissions.map((s) => s.studentId).sort(), [s1.userId, s2.userId].sort());
  await rejects(submissions.listSubmissions({ assessmentId: a.id }, s1.auth), Code.PermissionDenied);

  // Manual grading: scores checked against the questions; the total is computed by the server.
  await rejects(
    submissions.finalizeGrade({ submissionId: onTime.id }, grader.auth),
    Code.FailedPrecondition,
    "GRADING_INCOMPLETE",
  );
  await invalid(
    submissions.gradeSubmission(
      { submissionId: onTime.id, scores: [{ questionId: "q4", score: 5 }] },
      grader.auth,
    ),
    ["scores[0].score"],
  );
  await invalid(
    submissions.gradeSubmission(
      { submissionId: onTime.id, scores: [{ questionId: "q7", score: 1 }] },
      grader.auth,
    ),
    ["scores[0].question_id"],
  );
  await invalid(
    submissions.gradeSubmission(
      { submissionId: onTime.id, scores: [{ questionId: "q4", score: -1 }] },
      grader.auth,
    ),
    ["scores[0].score"],
  );
  await rejects(
    submissions.gradeSubmission(
      { submissionId: onTime.id, scores: [{ questionId: "q4", score: 3 }] },
      editor.auth,
    ),
    Code.PermissionDenied,
  );
  await rejects(
    submissions.gradeSubmission(
      { submissionId: onTime.id, scores: [{ questionId: "q4", score: 3 }] },
      s1.auth,
    ),
    Code.PermissionDenied,
  );
  const graded = (
    await submissions.gradeSubmission(
      {
        submissionId: onTime.id,
        scores: [{ questionId: "q4", score: 3.5, feedback: "Good" }],
        feedback: "Solid work",
      },
      grader.auth,
    )
  ).submission!;
  assert.equal(
    [graded.state, graded.totalScore, graded.gradePercent, graded.passed],
    [SubmissionState.GRADED, 7.5, 75, true],
  );
  const final = (await submissions.finalizeGrade({ submissionId: onTime.id }, grader.auth)).submission!;
  assert.is(final.state, SubmissionState.FINALIZED);
  await rejects(
    submissions.gradeSubmission(
      { submissionId: onTime.id, scores: [{ questionId: "q4", score: 4 }] },
      grader.auth,
    ),
    Code.FailedPrecondition,
    "GRADE_FINAL",
  );
  const mine = (await submissions.getSubmission({ submissionId: onTime.id }, s1.auth)).submission!;
  assert.equal([mine.totalScore, mine.gradePercent, mine.feedback], [7.5, 75, "Solid work"]);
  // The owner reads what the grader did, and to what effect.
  const log = await sys.client(StaffService).listActivity({ courseId, actorId: grader.userId }, owner.auth);
  assert.equal(
    log.entries.filter((e) => e.resourceId === onTime.id).map((e) => [e.action, e.details]),
    [
      ["submission.finalize", "7.5 of 10 points"],
      ["submission.grade", "7.5 of 10 points"],
    ],
  );

  const sql = postgres(sys.databases.courses, { max: 1 });
  try {
    const events =
      await sql`select 1 from outbox where event_type = 'SUBMISSION_GRADED' and recipients->'userIds' ? ${s1.userId}`;
    assert.is(events.length, 1);
  } finally {
    await sql.end();
  }
  // Questions cannot change once students have handed in.
  await rejects(
    assessments.updateAssessment(
      {
        assessmentId: a.id,
        assessment: { questions: [{ id: "n", kind: QuestionKind.FREE_TEXT, prompt: "new", points: 1 }] },
        updateMask: { paths: ["questions"] },
      },
      owner.auth,
    ),
    Code.FailedPrecondition,
    "QUESTIONS_LOCKED",
  );
  sys.clock.advance(-61 * 60_000);
});

test("late policies: rejected over time, penalised, and a task editable until graded", async (ctx) => {
  const { sys, owner, s1, s2, courseId } = ctx;
  const assessments = sys.client(AssessmentService);
  const submissions = sys.client(SubmissionService);
  const strict = (
    await assessments.createAssessment(
      {
        courseId,
        assessment: exam({ title: "Strict", latePolicy: LatePolicy.REJECT, timeLimitMinutes: 30 }),
      },
      owner.auth,
    )
  ).assessment!;
  await assessments.publishAssessment({ assessmentId: strict.id }, owner.auth);
  await submissions.startAttempt({ assessmentId: strict.id }, s1.auth);
  sys.clock.advance(31 * 60_000);
  await rejects(
    submissions.submitAssessment(
      { assessmentId: strict.id, answers: [{ questionId: "q1", optionIds: ["b"] }] },
      s1.auth,
    ),
    Code.FailedPrecondition,
    "TIME_LIMIT_EXCEEDED",
  );
  sys.clock.advance(-31 * 60_000);

  const task = await publishedTask(ctx, {
    title: "Homework",
    dueTime: at(1 * DAY),
    gracePeriodMinutes: 60,
    latePolicy: LatePolicy.PENALTY,
    latePenaltyPercent: 20,
  });
  // A task is not timed: its questions are there to read before anything is handed in.
  const read = (await assessments.getAssessment({ assessmentId: task.id }, s2.auth)).assessment!;
  assert.equal([read.questions.length, read.questionCount], [4, 4]);
  const first = (
    await submissions.submitAssessment(
      { assessmentId: task.id, answers: [{ questionId: "q1", optionIds: ["a"] }] },
      s1.auth,
    )
  ).submission!;
  const second = (
    await submissions.submitAssessment(
      {
        assessmentId: task.id,
        answers: [
          { questionId: "q1", optionIds: ["b"] },
          { questionId: "q3", boolValue: false },
        ],
      },
      s1.auth,
    )
  ).submission!;
  assert.is(second.id, first.id, "a task submission is edited in place until graded");
  assert.is(second.state, SubmissionState.SUBMITTED);
  // After the due time plus grace, a penalty applies: 10 points max, 4 earned, 20% off → 3.2.
  sys.clock.advance(1 * DAY + 61 * 60_000);
  const late = (
    await submissions.submitAssessment(
      {
        assessmentId: task.id,
        answers: [
          { questionId: "q1", optionIds: ["b"] },
          { questionId: "q3", boolValue: false },
        ],
      },
      s2.auth,
    )
  ).submission!;
  assert.is(late.late, true);
  const graded = (await submissions.getSubmission({ submissionId: late.id }, owner.auth)).submission!;
  assert.equal([graded.totalScore, graded.gradePercent, graded.passed], [3.2, 32, false]);
  await submissions.finalizeGrade({ submissionId: first.id }, owner.auth);
  await rejects(
    submissions.submitAssessment(
      { assessmentId: task.id, answers: [{ questionId: "q1", optionIds: ["a"] }] },
      s1.auth,
    ),
    Code.FailedPrecondition,
    "ALREADY_GRADED",
  );
  sys.clock.advance(-(1 * DAY + 61 * 60_000));
  await rejects(
    submissions.startAttempt({ assessmentId: task.id }, s1.auth),
    Code.FailedPrecondition,
    "NOT_AN_EXAM",
  );
});

test("a draft that refuses late work cannot be published once its due time and grace have passed", async (ctx) => {
  const { sys, owner, s1, courseId } = ctx;
  const assessments = sys.client(AssessmentService);
  const draft = async (title: string, latePolicy: LatePolicy) =>
    (
      await assessments.createAssessment(
        {
          courseId,
          assessment: exam({
            kind: AssessmentKind.TASK,
            timeLimitMinutes: 0,
            title,
            dueTime: at(DAY),
            gracePeriodMinutes: 60,
            latePolicy,
          }),
        },
        owner.auth,
      )
    ).assessment!;
  const closed = await draft("Closed", LatePolicy.REJECT);
  const inGrace = await draft("In grace", LatePolicy.REJECT);
  const flagged = await draft("Late welcome", LatePolicy.ACCEPT_FLAGGED);
  const sql = postgres(sys.databases.courses, { max: 1 });
  const publishedEvents = async (id: string) =>
    (
      await sql<{ n: number }[]>`
        select count(*)::int as n from outbox
         where event_type = 'ASSESSMENT_PUBLISHED' and data->>'assessment_id' = ${id}`
    )[0]!.n;
  sys.clock.advance(DAY + 30 * 60_000);
  try {
    // Past due but within the grace period: students can still hand it in.
    await assessments.publishAssessment({ assessmentId: inGrace.id }, owner.auth);
    sys.clock.advance(31 * 60_000);
    await rejects(
      assessments.publishAssessment({ assessmentId: closed.id }, owner.auth),
      Code.FailedPrecondition,
      "PAST_DUE",
    );
    assert.is(
      (await assessments.getAssessment({ assessmentId: closed.id }, owner.auth)).assessment?.state,
      AssessmentState.DRAFT,
    );
    assert.is(await publishedEvents(closed.id), 0, "no student is told of the refused draft");
    await rejects(assessments.getAssessment({ assessmentId: closed.id }, s1.auth), Code.NotFound);
    // Late work accepted: publishing past due is allowed (every hand-in is flagged late).
    await assessments.publishAssessment({ assessmentId: flagged.id }, owner.auth);
    // Once the due time is moved, the same draft is published.
    await assessments.updateAssessment(
      { assessmentId: closed.id, assessment: { dueTime: at(3 * DAY) }, updateMask: { paths: ["due_time"] } },
      owner.auth,
    );
    const published = await assessments.publishAssessment({ assessmentId: closed.id }, owner.auth);
    assert.is(published.assessment?.state, AssessmentState.PUBLISHED);
    assert.is(await publishedEvents(closed.id), 1);
    // An already published assessment says so, whatever its due time.
    await rejects(
      assessments.publishAssessment({ assessmentId: inGrace.id }, owner.auth),
      Code.FailedPrecondition,
      "ALREADY_PUBLISHED",
    );
  } finally {
    sys.clock.advance(-(DAY + 61 * 60_000));
    await sql.end();
  }
});

test("an exam's answers are saved as it goes; when its time is up under a reject policy, the saved ones are handed in", async (ctx) => {
  const { sys, owner, s1, s2, stranger } = ctx;
  const assessments = sys.client(AssessmentService);
  const submissions = sys.client(SubmissionService);
  const strict = (
    await assessments.createAssessment(
      {
        courseId: ctx.courseId,
        assessment: exam({ title: "Saved", latePolicy: LatePolicy.REJECT, timeLimitMinutes: 30 }),
      },
      owner.auth,
    )
  ).assessment!;
  await assessments.publishAssessment({ assessmentId: strict.id }, owner.auth);
  const save = (who: TestUser, answers: { questionId: string; optionIds?: string[]; text?: string }[]) =>
    submissions.saveAnswers({ assessmentId: strict.id, answers }, who.auth);

  await rejects(save(s1, [{ questionId: "q1", optionIds: ["b"] }]), Code.FailedPrecondition, "NOT_STARTED");
  const started = await submissions.startAttempt({ assessmentId: strict.id }, s1.auth);
  await submissions.startAttempt({ assessmentId: strict.id }, s2.auth);
  const first = await save(s1, [{ questionId: "q1", optionIds: ["a"] }]);
  assert.equal(first.deadline, started.deadline);
  const saved = await save(s1, [
    { questionId: "q1", optionIds: ["b"] },
    { questionId: "q4", text: "Leaders and logs" },
  ]);
  assert.is(saved.submission?.state, SubmissionState.IN_PROGRESS, "saved, not handed in");
  assert.equal(
    saved.submission?.answers.map((a) => a.questionId),
    ["q1", "q4"],
  );
  // With an attempt under way (none handed in), the questions stay and the time only grows.
  const locked = (
    await assessments.createAssessment(
      { courseId: ctx.courseId, assessment: exam({ title: "Under way", timeLimitMinutes: 30 }) },
      owner.auth,
    )
  ).assessment!;
  await assessments.publishAssessment({ assessmentId: locked.id }, owner.auth);
  const change = (
    assessment: Parameters<typeof assessments.updateAssessment>[0]["assessment"],
    path: string,
  ) =>
    assessments.updateAssessment(
      { assessmentId: locked.id, assessment, updateMask: { paths: [path] } },
      owner.auth,
    );
  const newQuestions = { questions: [{ id: "n", kind: QuestionKind.FREE_TEXT, prompt: "new", points: 1 }] };
  assert.is(
    (await change(newQuestions, "questions")).assessment?.questions.length,
    1,
    "free before anyone starts",
  );
  const under = await submissions.startAttempt({ assessmentId: locked.id }, s1.auth);
  await rejects(change(newQuestions, "questions"), Code.FailedPrecondition, "QUESTIONS_LOCKED");
  await rejects(
    change({ timeLimitMinutes: 1 }, "time_limit_minutes"),
    Code.FailedPrecondition,
    "TIME_LIMIT_LOCKED",
  );
  assert.is((await change({ timeLimitMinutes: 45 }, "time_limit_minutes")).assessment?.timeLimitMinutes, 45);
  const longer = await submissions.startAttempt({ assessmentId: locked.id }, s1.auth);
  assert.is(
    timestampDate(longer.deadline!).getTime() - timestampDate(under.deadline!).getTime(),
    15 * 60_000,
    "the attempt under way gets the added time",
  );
  // Bad input and other callers change nothing.
  await invalid(save(s1, [{ questionId: "q9", optionIds: ["a"] }]), ["answers[0].question_id"]);
  await invalid(submissions.saveAnswers({ assessmentId: "x" }, s1.auth), ["assessment_id"]);
  await rejects(save(stranger, [{ questionId: "q1", optionIds: ["b"] }]), Code.PermissionDenied);
  await rejects(save(owner, [{ questionId: "q1", optionIds: ["b"] }]), Code.PermissionDenied);
  await rejects(submissions.saveAnswers({ assessmentId: strict.id }), Code.Unauthenticated);
  const task = await publishedTask(ctx, { title: "Not an exam" });
  await rejects(
    submissions.saveAnswers(
      { assessmentId: task.id, answers: [{ questionId: "q1", optionIds: ["b"] }] },
      s1.auth,
    ),
    Code.FailedPrecondition,
    "NOT_AN_EXAM",
  );
  // The sweep leaves attempts whose time is not up.
  assert.is(await sys.handInExpiredExams(), 0);

  sys.clock.advance(31 * 60_000);
  try {
    await rejects(
      save(s1, [{ questionId: "q1", optionIds: ["a"] }]),
      Code.FailedPrecondition,
      "TIME_LIMIT_EXCEEDED",
    );
    // Two sweeps at once (two replicas): each attempt is handed in by one of them.
    const handed = await Promise.all([sys.handInExpiredExams(), sys.handInExpiredExams()]);
    assert.ok(handed[0] + handed[1] >= 2, "both attempts (and any other suite's whose time is up)");
    assert.is(await sys.handInExpiredExams(), 0, "none is left, none handed in twice");
  } finally {
    sys.clock.advance(-31 * 60_000);
  }
  const mine = (await submissions.getSubmission({ submissionId: saved.submission!.id }, s1.auth)).submission!;
  assert.is(mine.state, SubmissionState.SUBMITTED);
  assert.is(mine.late, false, "everything saved was saved in time");
  assert.equal(
    timestampDate(mine.submitTime!),
    timestampDate(started.deadline!),
    "handed in as of the deadline",
  );
  assert.equal(
    mine.answers.map((a) => [a.questionId, a.optionIds, a.text]),
    [
      ["q1", ["b"], ""],
      ["q4", [], "Leaders and logs"],
    ],
  );
  assert.equal(mine.pendingQuestionIds, ["q4"], "auto-graded, the free text left to the teacher");
  const empty = (await submissions.listSubmissions({ assessmentId: strict.id }, owner.auth)).submissions.find(
    (x) => x.studentId === s2.userId,
  )!;
  assert.equal(
    [empty.state, empty.answers.length],
    [SubmissionState.SUBMITTED, 0],
    "nothing saved: an empty hand-in",
  );
  await rejects(
    submissions.submitAssessment(
      { assessmentId: strict.id, answers: [{ questionId: "q1", optionIds: ["b"] }] },
      s1.auth,
    ),
    Code.FailedPrecondition,
  );
});

test("a handed-in file is private: read only through short-lived links given to its student and graders", async (ctx) => {
  const { sys, owner, grader, editor, s1, s2 } = ctx;
  const submissions = sys.client(SubmissionService);
  const task = await publishedTask(ctx, {
    title: "Essay",
    questions: [{ id: "f1", kind: QuestionKind.FILE_UPLOAD, prompt: "Upload your essay", points: 5 }],
  });
  const essay = Buffer.from("%PDF-1.7 my essay");
  const mine = (
    await submissions.submitAssessment(
      {
        assessmentId: task.id,
        answers: [{ questionId: "f1", fileName: "my essay.pdf", fileContent: essay }],
      },
      s1.auth,
    )
  ).submission!;
  const link = new URL(mine.answers[0]!.fileUrl);
  assert.ok(link.pathname.startsWith("/blobs/private/submissions/"), link.pathname);
  assert.ok(link.pathname.endsWith("/my_essay.pdf"), link.pathname);
  const read = await fetch(link);
  assert.is(read.status, 200);
  assert.equal(Buffer.from(await read.arrayBuffer()), essay);
  assert.is(read.headers.get("cache-control"), "private, no-store");

  // The file's address alone, or with the signature of another file or another expiry, reads nothing.
  const bare = new URL(link.pathname, link);
  const forged = new URL(link);
  forged.searchParams.set("expires", String(Number(link.searchParams.get("expires")) + 86_400));
  // Other spellings of the same path are not a way around the signature.
  const key = link.pathname.slice("/blobs/".length);
  const respelled = [
    `//${key}`,
    `/%2F${key}`,
    `/./${key}`,
    `/avatars/../${key}`,
    `/${key.replace("/", "%2F")}`,
  ].map((path) => new URL(`/blobs${path}`, link));
  for (const url of [bare, forged, ...respelled]) {
    const res = await fetch(url);
    assert.is(res.status, 404, url.search);
    await res.body?.cancel();
  }

  // Graders get their own link; other students, and staff who may not grade, get none.
  const graded = (await submissions.getSubmission({ submissionId: mine.id }, grader.auth)).submission!;
  const graderRead = await fetch(graded.answers[0]!.fileUrl);
  assert.equal(Buffer.from(await graderRead.arrayBuffer()), essay);
  const listed = (await submissions.listSubmissions({ assessmentId: task.id }, owner.auth)).submissions;
  assert.ok(listed.find((x) => x.id === mine.id)?.answers[0]?.fileUrl.includes("signature="));
  await rejects(submissions.getSubmission({ submissionId: mine.id }, s2.auth), Code.PermissionDenied);
  await rejects(submissions.getSubmission({ submissionId: mine.id }, editor.auth), Code.PermissionDenied);

  // Handed in again with another file (a task stays editable until graded): the first one is deleted.
  const redone = (
    await submissions.submitAssessment(
      { assessmentId: task.id, answers: [{ questionId: "f1", fileName: "v2.pdf", fileContent: essay }] },
      s1.auth,
    )
  ).submission!;
  assert.is((await fetch(redone.answers[0]!.fileUrl)).status, 200);
  const gone = await fetch(link);
  assert.is(gone.status, 404, "the replaced file is deleted");
  await gone.body?.cancel();

  // Deleting the task deletes the work handed in, files included.
  await sys.client(AssessmentService).deleteAssessment({ assessmentId: task.id, confirm: true }, owner.auth);
  const deleted = await fetch(redone.answers[0]!.fileUrl);
  assert.is(deleted.status, 404, "the handed-in file is deleted with its assessment");
  await deleted.body?.cancel();
});

test("a task handed in several times at once keeps exactly one file: the one its submission holds", async (ctx) => {
  const { sys } = ctx;
  const {
    courseId,
    students: [student],
  } = await ownCourse(ctx, "student");
  const task = await publishedTask(
    { ...ctx, courseId },
    { questions: [{ id: "f1", kind: QuestionKind.FILE_UPLOAD, prompt: "Upload your essay", points: 5 }] },
  );
  const submissions = sys.client(SubmissionService);
  const dir = join(sys.blobDir, "private", "submissions", courseId);
  const files = () =>
    readdirSync(dir, { recursive: true, encoding: "utf8" })
      .filter((f) => statSync(join(dir, f)).isFile())
      .map((f) => f.split(sep).join("/"));
  // The first round races the submission's creation, the others its replacement.
  for (let round = 0; round < 3; round++) {
    const handIns = await Promise.all(
      ["a.pdf", "b.pdf", "c.pdf", "d.pdf"].map((fileName) =>
        submissions.submitAssessment(
          {
            assessmentId: task.id,
            answers: [{ questionId: "f1", fileName, fileContent: Buffer.from(fileName) }],
          },
          student.auth,
        ),
      ),
    );
    assert.is(handIns.length, 4, "every hand-in lands, one after the other");
    const held = (await submissions.getSubmission({ submissionId: handIns[0]!.submission!.id }, student.auth))
      .submission!.answers[0]!.fileUrl;
    const key = new URL(held).pathname.slice(`/blobs/private/submissions/${courseId}/`.length);
    assert.equal(files(), [key], `round ${round}`);
  }
});

test("refusals the flows above do not reach: a published kind, an exam started twice or too late, grading twice, a finished course", async (ctx) => {
  const { sys, owner, grader, s1, s2, courseId } = ctx;
  const assessments = sys.client(AssessmentService);
  const submissions = sys.client(SubmissionService);
  const make = (o: Init) => assessments.createAssessment({ courseId, assessment: exam(o) }, owner.auth);

  // Choice questions need a right answer; only they have options; a file answer needs its file.
  const choice = (kind: QuestionKind, options: { id: string; text: string; correct?: boolean }[]) => ({
    questions: [{ id: "x", kind, prompt: "p", points: 1, options }],
  });
  await invalid(make(choice(QuestionKind.MULTIPLE_CHOICE, [{ id: "a", text: "a" }])), [
    "assessment.questions[0].options",
  ]);
  const [a, b] = [
    { id: "a", text: "a" },
    { id: "b", text: "b" },
  ];
  for (const [kind, options] of [
    [QuestionKind.MULTIPLE_CHOICE, [a, b]], // no right answer
    [QuestionKind.SINGLE_CHOICE, [a, b]],
    [
      QuestionKind.SINGLE_CHOICE,
      [
        { ...a, correct: true },
        { ...b, correct: true },
      ],
    ], // two
    [
      QuestionKind.MULTIPLE_CHOICE,
      [
        { ...a, correct: true },
        { ...a, text: "again" },
      ],
    ], // one id twice
    [QuestionKind.FREE_TEXT, [{ ...a, correct: true }]],
  ] as const) {
    await invalid(make(choice(kind, [...options])), ["assessment.questions[0].options"]);
  }
  const upload = await publishedTask(ctx, {
    title: "Upload",
    questions: [{ id: "f", kind: QuestionKind.FILE_UPLOAD, prompt: "Your file", points: 1 }],
  });
  await invalid(
    submissions.submitAssessment(
      { assessmentId: upload.id, answers: [{ questionId: "f", fileName: "a.pdf" }] },
      s1.auth,
    ),
    ["answers[0].file_content"],
  );

  // A published assessment keeps its kind.
  const exam1 = (await make({ title: "Quiz" })).assessment!;
  await assessments.publishAssessment({ assessmentId: exam1.id }, owner.auth);
  await rejects(
    assessments.updateAssessment(
      { assessmentId: exam1.id, assessment: { kind: AssessmentKind.TASK }, updateMask: { paths: ["kind"] } },
      owner.auth,
    ),
    Code.FailedPrecondition,
    "KIND_LOCKED",
  );

  // An exam is started once, and not after its due time when late work is refused.
  await submissions.startAttempt({ assessmentId: exam1.id }, s1.auth);
  const handedIn = (
    await submissions.submitAssessment(
      { assessmentId: exam1.id, answers: [{ questionId: "q1", optionIds: ["b"] }] },
      s1.auth,
    )
  ).submission!;
  await rejects(
    submissions.startAttempt({ assessmentId: exam1.id }, s1.auth),
    Code.FailedPrecondition,
    "ALREADY_SUBMITTED",
  );
  const strict = (await make({ title: "Strict", latePolicy: LatePolicy.REJECT, dueTime: at(DAY) }))
    .assessment!;
  await assessments.publishAssessment({ assessmentId: strict.id }, owner.auth);
  sys.clock.advance(DAY + 60_000);
  try {
    await rejects(
      submissions.startAttempt({ assessmentId: strict.id }, s1.auth),
      Code.FailedPrecondition,
      "PAST_DUE",
    );
  } finally {
    sys.clock.advance(-(DAY + 60_000));
  }

  // Only handed-in work is graded, each question once; a final grade is final once.
  const inProgress = (await submissions.startAttempt({ assessmentId: exam1.id }, s2.auth)).submission!;
  await rejects(
    submissions.gradeSubmission(
      { submissionId: inProgress.id, scores: [{ questionId: "q4", score: 1 }] },
      grader.auth,
    ),
    Code.FailedPrecondition,
    "NOT_SUBMITTED",
  );
  await invalid(
    submissions.gradeSubmission(
      {
        submissionId: handedIn.id,
        scores: [
          { questionId: "q4", score: 1 },
          { questionId: "q4", score: 2 },
        ],
      },
      grader.auth,
    ),
    ["scores"],
  );
  await submissions.gradeSubmission(
    { submissionId: handedIn.id, scores: [{ questionId: "q4", score: 4 }] },
    grader.auth,
  );
  await submissions.finalizeGrade({ submissionId: handedIn.id }, grader.auth);
  await rejects(
    submissions.finalizeGrade({ submissionId: handedIn.id }, grader.auth),
    Code.FailedPrecondition,
    "GRADE_FINAL",
  );

  // Graders page through the handed-in submissions.
  const other = (
    await submissions.submitAssessment(
      { assessmentId: exam1.id, answers: [{ questionId: "q1", optionIds: ["a"] }] },
      s2.auth,
    )
  ).submission!;
  const first = await submissions.listSubmissions({ assessmentId: exam1.id, pageSize: 1 }, grader.auth);
  const second = await submissions.listSubmissions(
    { assessmentId: exam1.id, pageSize: 1, pageToken: first.nextPageToken },
    grader.auth,
  );
  assert.equal([first.submissions.length, second.submissions.length, second.nextPageToken], [1, 1, ""]);
  assert.equal(
    [...first.submissions, ...second.submissions].map((x) => x.id).sort(),
    [handedIn.id, other.id].sort(),
  );

  // A finished course is read-only for its students: no exam starts, no work is handed in.
  const courses = sys.client(CourseService);
  const done = (await courses.createCourse({ course: courseInput({ title: "Done" }) }, owner.auth)).course!
    .id;
  await sys.client(EnrollmentService).enroll({ courseId: done }, s1.auth);
  const publish = async (o: Init) => {
    const a = (await assessments.createAssessment({ courseId: done, assessment: exam(o) }, owner.auth))
      .assessment!;
    await assessments.publishAssessment({ assessmentId: a.id }, owner.auth);
    return a;
  };
  const lastExam = await publish({ title: "Last exam" });
  const lastTask = await publish({ title: "Last task", kind: AssessmentKind.TASK, timeLimitMinutes: 0 });
  await courses.finishCourse({ courseId: done, finalGrades: [] }, owner.auth);
  await rejects(
    submissions.startAttempt({ assessmentId: lastExam.id }, s1.auth),
    Code.FailedPrecondition,
    "COURSE_FINISHED",
  );
  await rejects(
    submissions.submitAssessment(
      { assessmentId: lastTask.id, answers: [{ questionId: "q1", optionIds: ["b"] }] },
      s1.auth,
    ),
    Code.FailedPrecondition,
    "COURSE_FINISHED",
  );
  await rejects(
    submissions.saveAnswers(
      { assessmentId: lastExam.id, answers: [{ questionId: "q1", optionIds: ["b"] }] },
      s1.auth,
    ),
    Code.FailedPrecondition,
    "COURSE_FINISHED",
  );
  const mine = await submissions.listMyAssessments({ courseId: done }, s1.auth);
  assert.equal(
    mine.assessments.map((x) => x.status),
    ["pending", "pending"],
    "nothing was handed in",
  );
});

test("an exam handed in by several calls at once is handed in once; the rest are refused", async (ctx) => {
  const { sys, owner, s1, courseId } = ctx;
  const assessments = sys.client(AssessmentService);
  const submissions = sys.client(SubmissionService);
  const a = (
    await assessments.createAssessment({ courseId, assessment: exam({ title: "Race" }) }, owner.auth)
  ).assessment!;
  await assessments.publishAssessment({ assessmentId: a.id }, owner.auth);
  await submissions.startAttempt({ assessmentId: a.id }, s1.auth);
  // Each call answers q1 differently: "a" or "b".
  const results = await Promise.allSettled(
    Array.from({ length: 8 }, (_, i) =>
      submissions.submitAssessment(
        { assessmentId: a.id, answers: [{ questionId: "q1", optionIds: [i % 2 ? "b" : "a"] }] },
        s1.auth,
      ),
    ),
  );
  const handedIn = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.submission!] : []));
  assert.is(handedIn.length, 1, "one hand-in lands");
  for (const r of results) {
    if (r.status === "rejected") {
      await rejects(Promise.reject(r.reason), Code.FailedPrecondition, "ALREADY_SUBMITTED");
    }
  }
  const stored = (await submissions.getSubmission({ submissionId: handedIn[0]!.id }, owner.auth)).submission!;
  assert.equal(stored.answers, handedIn[0]!.answers, "no later call replaced the answers handed in");
  assert.is(stored.submitTime?.seconds, handedIn[0]!.submitTime?.seconds);
});

test("grading acts only on the version the grader read: a task handed in again, or graded meanwhile, is refused", async (ctx) => {
  const { sys, owner, grader, s2 } = ctx;
  const submissions = sys.client(SubmissionService);
  const task = await publishedTask(ctx, { title: "Versions" });
  const answer = (text: string) => ({
    assessmentId: task.id,
    answers: [
      { questionId: "q1", optionIds: ["b"] },
      { questionId: "q2", optionIds: ["a", "b"] },
      { questionId: "q3", boolValue: false },
      { questionId: "q4", text },
    ],
  });
  const read = (await submissions.submitAssessment(answer("first draft"), s2.auth)).submission!;
  const again = (await submissions.submitAssessment(answer("second draft"), s2.auth)).submission!;
  assert.is(again.version, read.version + 1, "a hand-in raises the version");
  const before = (await submissions.getSubmission({ submissionId: read.id }, owner.auth)).submission!;
  assert.equal(
    [before.gradePercent, before.passed, before.pendingQuestionIds],
    [60, false, ["q4"]],
    "60 % of the points so far, but not passed while q4 waits for a grader",
  );

  // The grader read the first draft; the student has handed in again since.
  const grade = { submissionId: read.id, scores: [{ questionId: "q4", score: 4 }], feedback: "Clear" };
  const changed = await rejects(
    submissions.gradeSubmission({ ...grade, expectedVersion: read.version }, grader.auth),
    Code.FailedPrecondition,
    "SUBMISSION_CHANGED",
  );
  assert.equal(errorMetadata(changed), { version: String(again.version) });
  // Finalizing what it read is refused for the same reason first, though q4 is still ungraded.
  await rejects(
    submissions.finalizeGrade({ submissionId: read.id, expectedVersion: read.version }, grader.auth),
    Code.FailedPrecondition,
    "SUBMISSION_CHANGED",
  );
  await rejects(
    submissions.finalizeGrade({ submissionId: read.id, expectedVersion: again.version }, grader.auth),
    Code.FailedPrecondition,
    "GRADING_INCOMPLETE",
  );
  await invalid(submissions.gradeSubmission({ ...grade, expectedVersion: -1 }, grader.auth), [
    "expected_version",
  ]);
  await invalid(submissions.finalizeGrade({ submissionId: read.id, expectedVersion: -1 }, grader.auth), [
    "expected_version",
  ]);
  const untouched = (await submissions.getSubmission({ submissionId: read.id }, owner.auth)).submission!;
  assert.equal(untouched, before, "the refused calls changed nothing");

  const graded = (
    await submissions.gradeSubmission({ ...grade, expectedVersion: again.version }, grader.auth)
  ).submission!;
  assert.equal(
    [graded.version, graded.state, graded.totalScore, graded.passed],
    [again.version + 1, SubmissionState.GRADED, 10, true],
  );
  await rejects(
    submissions.finalizeGrade({ submissionId: read.id, expectedVersion: again.version }, owner.auth),
    Code.FailedPrecondition,
    "SUBMISSION_CHANGED",
  );

  // Graders at once, without a version: each grade lands on the one before it or is
  // refused; none is silently overwritten by a call that read the submission before it.
  const calls = Array.from({ length: 6 }, (_, i) => ({
    questionId: i % 2 ? "q1" : "q4",
    score: i % 2 ? 0 : i / 2 + 1,
  }));
  const results = await Promise.allSettled(
    calls.map((score) =>
      submissions.gradeSubmission({ submissionId: read.id, scores: [score], feedback: "" }, owner.auth),
    ),
  );
  const landed: { questionId: string; score: number; version: number }[] = [];
  for (const [i, r] of results.entries()) {
    if (r.status === "fulfilled") landed.push({ ...calls[i]!, version: r.value.submission!.version });
    else await rejects(Promise.reject(r.reason), Code.FailedPrecondition, "SUBMISSION_CHANGED");
  }
  assert.ok(landed.length >= 1);
  const final = (await submissions.getSubmission({ submissionId: read.id }, owner.auth)).submission!;
  assert.is(final.version, graded.version + landed.length, "every grade that landed is one version");
  const lastOf = (q: string) =>
    landed.filter((x) => x.questionId === q).sort((x, y) => y.version - x.version)[0]?.score;
  assert.equal(
    final.scores
      .filter((x) => x.questionId === "q1" || x.questionId === "q4")
      .map((x) => [x.questionId, x.score]),
    [
      ["q1", lastOf("q1") ?? 1],
      ["q4", lastOf("q4") ?? 4],
    ],
  );

  const finalized = (
    await submissions.finalizeGrade({ submissionId: read.id, expectedVersion: final.version }, owner.auth)
  ).submission!;
  assert.equal([finalized.state, finalized.version], [SubmissionState.FINALIZED, final.version + 1]);
});

test("lists: teachers by course, state and due date; students by status", async (ctx) => {
  const { sys, owner, s1, stranger } = ctx;
  const assessments = sys.client(AssessmentService);
  const submissions = sys.client(SubmissionService);
  const course = (
    await sys.client(CourseService).createCourse({ course: courseInput({ title: "Lists" }) }, owner.auth)
  ).course!.id;
  await sys.client(EnrollmentService).enroll({ courseId: course }, s1.auth);
  const mk = async (title: string, dueDays: number, publish: boolean) => {
    const a = (
      await assessments.createAssessment(
        {
          courseId: course,
          assessment: exam({
            kind: AssessmentKind.TASK,
            timeLimitMinutes: 0,
            title,
            dueTime: at(dueDays * DAY),
          }),
        },
        owner.auth,
      )
    ).assessment!;
    if (publish) await assessments.publishAssessment({ assessmentId: a.id }, owner.auth);
    return a;
  };
  const past = await mk("Past", -1, true);
  const submitted = await mk("Submitted", 3, true);
  const pending = await mk("Pending", 5, true);
  await mk("Draft", 7, false);
  await submissions.submitAssessment(
    { assessmentId: submitted.id, answers: [{ questionId: "q4", text: "essay" }] },
    s1.auth,
  );

  const all = await assessments.listAssessments({ courseId: course }, owner.auth);
  assert.equal(
    all.assessments.map((a) => [a.title, a.submissionCount]),
    [
      ["Past", 0],
      ["Submitted", 1],
      ["Pending", 0],
      ["Draft", 0],
    ],
  );
  const drafts = await assessments.listAssessments(
    { courseId: course, state: AssessmentState.DRAFT },
    owner.auth,
  );
  assert.equal(
    drafts.assessments.map((a) => a.title),
    ["Draft"],
  );
  const soon = await assessments.listAssessments(
    { courseId: course, dueAfter: at(0), dueBefore: at(4 * DAY) },
    owner.auth,
  );
  assert.equal(
    soon.assessments.map((a) => a.title),
    ["Submitted"],
  );
  const p1 = await assessments.listAssessments({ courseId: course, pageSize: 3 }, owner.auth);
  const p2 = await assessments.listAssessments(
    { courseId: course, pageSize: 3, pageToken: p1.nextPageToken },
    owner.auth,
  );
  assert.is(p1.assessments.length + p2.assessments.length, 4);
  await rejects(assessments.listAssessments({ courseId: course }, s1.auth), Code.PermissionDenied);
  await invalid(assessments.listAssessments({ courseId: "bad" }, owner.auth), ["course_id"]);
  const tomorrow = at(DAY);
  await invalid(
    assessments.listAssessments({ courseId: course, dueAfter: tomorrow, dueBefore: tomorrow }, owner.auth),
    ["due_before"],
  );

  const mine = await submissions.listMyAssessments({ courseId: course }, s1.auth);
  assert.equal(
    mine.assessments.map((a) => [a.title, a.status]),
    [
      ["Past", "late"],
      ["Submitted", "submitted"],
      ["Pending", "pending"],
    ],
  );
  const onlyPending = await submissions.listMyAssessments({ courseId: course, status: "pending" }, s1.auth);
  assert.equal(
    onlyPending.assessments.map((a) => a.assessmentId),
    [pending.id],
  );
  assert.equal(
    (await submissions.listMyAssessments({ courseId: course, status: "late" }, s1.auth)).assessments.map(
      (a) => a.assessmentId,
    ),
    [past.id],
  );
  assert.equal((await submissions.listMyAssessments({ courseId: course }, stranger.auth)).assessments, []);
  await invalid(submissions.listMyAssessments({ status: "done" }, s1.auth), ["status"]);
  await rejects(submissions.getSubmission({ submissionId: randomUUID() }, s1.auth), Code.NotFound);
});

test("a student's hand-in is checked against the course where it is written: one finished since it was read refuses it", async (ctx) => {
  // SubmitAssessment, StartAttempt and SaveAnswers read the course, then write; a
  // FinishCourse landing in between is met at the write (a race through the API).
  const { sys, owner } = ctx;
  const courses = sys.client(CourseService);
  const {
    courseId,
    students: [s1, s2],
  } = await ownCourse(ctx, "s1", "s2");
  const task = await publishedTask({ ...ctx, courseId }, {});
  const handedIn = await sys
    .client(SubmissionService)
    .submitAssessment({ assessmentId: task.id, answers: [{ questionId: "q1", optionIds: ["a"] }] }, s1.auth);
  await courses.finishCourse({ courseId }, owner.auth);
  const sql = postgres(sys.databases.courses, { max: 1, onnotice: () => {} });
  try {
    const store = createAssessmentStore(sql);
    const readOnly = async (write: Promise<unknown>) => {
      const err = await write.then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, FailedPreconditionError);
      assert.is((err as FailedPreconditionError).reason, "COURSE_FINISHED");
    };
    const update = emptyHandIn();
    const read = (await store.get(task.id))!;
    await readOnly(store.createSubmission(read, s2.userId, update));
    await readOnly(store.saveAnswers(read, s1.userId, [SubmissionState.SUBMITTED], update));
    await readOnly(createEnrollmentStore(sql).remove(courseId, s1.userId));
    const rows = await sql<{ student_id: string; answers: unknown[] }[]>`
      select student_id, answers from submissions where course_id = ${courseId}`;
    assert.equal(
      rows.map((r) => [r.student_id, r.answers.length]),
      [[s1.userId, 1]],
      "nothing written",
    );
    const [seats] = await sql<
      { n: number }[]
    >`select enrolled_count as n from courses where id = ${courseId}`;
    assert.is(seats!.n, 2);
    // Staff may still grade (removing a student is refused too: enrollment.test.ts).
    assert.ok(
      await store.updateSubmission(handedIn.submission!.id, { states: [SubmissionState.SUBMITTED] }, update),
    );
  } finally {
    await sql.end();
  }
});

test("questions change only before the first start or hand-in: a change and a first submission at once never both land", async (ctx) => {
  // UpdateAssessment checks for work, and a student's write reads the questions, before
  // writing: each is met again at the other's write (races through the API, on the store).
  const { sys, owner, s1, s2, courseId } = ctx;
  const assessments = sys.client(AssessmentService);
  const task = await publishedTask(ctx, { title: "Racing questions" });
  const newQuestions = { questions: exam().questions.slice(0, 2) };
  const sql = postgres(sys.databases.courses, { max: 2, onnotice: () => {} });
  try {
    const store = createAssessmentStore(sql);
    // A hand-in read before the questions changed is refused at its write, writing nothing.
    const read = (await store.get(task.id))!;
    await assessments.updateAssessment(
      { assessmentId: task.id, assessment: newQuestions, updateMask: { paths: ["questions"] } },
      owner.auth,
    );
    for (const write of [
      () => store.saveAnswers(read, s1.userId, [SubmissionState.SUBMITTED], emptyHandIn(), true),
      () => store.createSubmission(read, s1.userId, emptyHandIn()),
    ]) {
      const err = await write().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, FailedPreconditionError);
      assert.is((err as FailedPreconditionError).reason, "QUESTIONS_CHANGED");
    }
    const rows = await sql`select 1 from submissions where assessment_id = ${task.id}`;
    assert.is(rows.length, 0, "nothing written");

    // A change of questions arriving while a first submission is being written waits for it,
    // then is refused.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let written!: () => void;
    const inserted = new Promise<void>((resolve) => (written = resolve));
    const firstHandIn = sql.begin(async (tx) => {
      await tx`insert into submissions (id, assessment_id, course_id, student_id, state)
        values (${randomUUID()}, ${task.id}, ${courseId}, ${s2.userId}, ${SubmissionState.SUBMITTED})`;
      written();
      await released;
    });
    await inserted;
    const change = assessments.updateAssessment(
      {
        assessmentId: task.id,
        assessment: { questions: exam().questions },
        updateMask: { paths: ["questions"] },
      },
      owner.auth,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await firstHandIn;
    await rejects(change, Code.FailedPrecondition, "QUESTIONS_LOCKED");
    const now = (await assessments.getAssessment({ assessmentId: task.id }, owner.auth)).assessment!;
    assert.equal(
      now.questions.map((q) => q.id),
      ["q1", "q2"],
      "the questions the submission was written against",
    );
    // Deleted since it was read: the write finds no assessment (not a broken reference).
    const before = (await store.get(task.id))!;
    await assessments.deleteAssessment({ assessmentId: task.id, confirm: true }, owner.auth);
    const err = await store.createSubmission(before, s1.userId, emptyHandIn()).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(err, NotFoundError);
  } finally {
    await sql.end();
  }
});

test("where late work is taken an attempt runs its whole time limit, past the due time or started after it; a finish hands it in late only if saved late", async (ctx) => {
  const { sys, owner } = ctx;
  const {
    courseId,
    students: [s1, s2, s3],
  } = await ownCourse(ctx, "s1", "s2", "s3");
  const assessments = sys.client(AssessmentService);
  const submissions = sys.client(SubmissionService);
  const published = async (overrides: Init) => {
    const id = (await assessments.createAssessment({ courseId, assessment: exam(overrides) }, owner.auth))
      .assessment!.id;
    await assessments.publishAssessment({ assessmentId: id }, owner.auth);
    return id;
  };
  const minutesOf = (s: { submission?: { startTime?: Timestamp }; deadline?: Timestamp }) =>
    (timestampDate(s.deadline!).getTime() - timestampDate(s.submission!.startTime!).getTime()) / 60_000;
  const answer = (optionId: string) => [{ questionId: "q1", optionIds: [optionId] }];

  // Started an hour after its due time: the whole hour, saved as it goes, handed in late.
  const pastDue = await published({ title: "Past due", dueTime: at(-3600_000) });
  const late = await submissions.startAttempt({ assessmentId: pastDue }, s1.auth);
  assert.is(minutesOf(late), 60);
  assert.is(
    minutesOf(await submissions.saveAnswers({ assessmentId: pastDue, answers: answer("b") }, s1.auth)),
    60,
  );
  const handedIn = await submissions.submitAssessment(
    { assessmentId: pastDue, answers: answer("b") },
    s1.auth,
  );
  assert.equal([handedIn.submission!.state, handedIn.submission!.late], [SubmissionState.SUBMITTED, true]);

  // Where late work is refused, the attempt still ends at the due time.
  const strictDue = at(30 * 60_000);
  const strict = await published({ title: "Strict", dueTime: strictDue, latePolicy: LatePolicy.REJECT });
  const capped = await submissions.startAttempt({ assessmentId: strict }, s1.auth);
  assert.equal(capped.deadline, strictDue);

  // Due in 30 minutes: both attempts run their hour. One saved before the due time, one after.
  const dueSoon = await published({ title: "Due soon", dueTime: at(30 * 60_000) });
  const early = await submissions.startAttempt({ assessmentId: dueSoon }, s2.auth);
  await submissions.startAttempt({ assessmentId: dueSoon }, s3.auth);
  assert.is(minutesOf(early), 60);
  await submissions.saveAnswers({ assessmentId: dueSoon, answers: answer("b") }, s2.auth);
  sys.clock.advance(45 * 60_000);
  try {
    await submissions.saveAnswers({ assessmentId: dueSoon, answers: answer("a") }, s3.auth);
    await sys.client(CourseService).finishCourse({ courseId }, owner.auth);
    await sys.handInExpiredExams();
  } finally {
    sys.clock.advance(-45 * 60_000);
  }
  const listed = (await submissions.listSubmissions({ assessmentId: dueSoon }, owner.auth)).submissions;
  const of = (id: string) => listed.find((x) => x.studentId === id)!;
  assert.equal(
    [s2, s3].map((s) => [of(s.userId).state, of(s.userId).late, of(s.userId).answers[0]?.optionIds]),
    [
      [SubmissionState.SUBMITTED, false, ["b"]],
      [SubmissionState.SUBMITTED, true, ["a"]],
    ],
    "saved before the due time: on time; after it: late",
  );
});

test("exam attempts still open when the course finishes are handed in with their saved answers; a course reopened first keeps them open", async (ctx) => {
  const { sys, owner } = ctx;
  const courses = sys.client(CourseService);
  const assessments = sys.client(AssessmentService);
  const submissions = sys.client(SubmissionService);
  const {
    courseId,
    students: [s1, s2],
  } = await ownCourse(ctx, "s1", "s2");
  // Late work accepted: time alone never closes these attempts.
  const open = (
    await assessments.createAssessment({ courseId, assessment: exam({ title: "Open" }) }, owner.auth)
  ).assessment!;
  await assessments.publishAssessment({ assessmentId: open.id }, owner.auth);
  const started = await submissions.startAttempt({ assessmentId: open.id }, s1.auth);
  await submissions.saveAnswers(
    {
      assessmentId: open.id,
      answers: [
        { questionId: "q1", optionIds: ["b"] },
        { questionId: "q4", text: "Terms and logs" },
      ],
    },
    s1.auth,
  );
  const empty = await submissions.startAttempt({ assessmentId: open.id }, s2.auth);
  const stateOf = async (id: string) =>
    (await submissions.getSubmission({ submissionId: id }, owner.auth)).submission!.state;
  const attempts = [started.submission!.id, empty.submission!.id];
  const states = () => Promise.all(attempts.map(stateOf));

  await sys.handInExpiredExams();
  assert.equal(
    await states(),
    [SubmissionState.IN_PROGRESS, SubmissionState.IN_PROGRESS],
    "running: left open",
  );

  await courses.finishCourse({ courseId }, owner.auth);
  await courses.reopenCourse({ courseId }, owner.auth);
  await sys.handInExpiredExams();
  assert.equal(
    await states(),
    [SubmissionState.IN_PROGRESS, SubmissionState.IN_PROGRESS],
    "reopened: left open",
  );
  const sql = postgres(sys.databases.courses, { max: 1, onnotice: () => {} });
  try {
    // A sweep that read the course finished, writing after it was reopened, writes nothing.
    const raced = await createAssessmentStore(sql).updateSubmission(
      started.submission!.id,
      { states: [SubmissionState.IN_PROGRESS], courseFinished: true },
      emptyHandIn(),
    );
    assert.is(raced, undefined);
    assert.equal(await states(), [SubmissionState.IN_PROGRESS, SubmissionState.IN_PROGRESS]);

    await courses.finishCourse({ courseId }, owner.auth);
    const [course] = await sql<
      { finished_at: Date }[]
    >`select finished_at from courses where id = ${courseId}`;
    const handed = await Promise.all([sys.handInExpiredExams(), sys.handInExpiredExams()]);
    assert.ok(handed[0] + handed[1] >= 2, "both attempts (and any other test's in a finished course)");
    const listed = (await submissions.listSubmissions({ assessmentId: open.id }, owner.auth)).submissions;
    const mine = listed.find((x) => x.studentId === s1.userId)!;
    assert.equal(
      [mine.state, mine.late, mine.answers.map((a) => a.questionId), mine.pendingQuestionIds],
      [SubmissionState.SUBMITTED, false, ["q1", "q4"], ["q4"]],
      "handed in as saved, on time, auto-graded, the free text left to the teacher",
    );
    assert.equal(
      timestampDate(mine.submitTime!),
      course!.finished_at,
      "as of the finish, before its time was up",
    );
    assert.ok(course!.finished_at < timestampDate(started.deadline!));
    const theirs = listed.find((x) => x.studentId === s2.userId)!;
    assert.equal(
      [theirs.state, theirs.answers.length],
      [SubmissionState.SUBMITTED, 0],
      "nothing saved: an empty hand-in",
    );
    const versions = listed.map((x) => x.version);
    await sys.handInExpiredExams();
    assert.equal(
      (await submissions.listSubmissions({ assessmentId: open.id }, owner.auth)).submissions.map(
        (x) => x.version,
      ),
      versions,
      "handed in once",
    );
    await rejects(
      submissions.submitAssessment(
        { assessmentId: open.id, answers: [{ questionId: "q1", optionIds: ["a"] }] },
        s1.auth,
      ),
      Code.FailedPrecondition,
      "COURSE_FINISHED",
    );
  } finally {
    await sql.end();
  }
});

test("students hear when published work is due at another time: once per move, not for drafts, other edits or a finished course", async (ctx) => {
  const { sys, owner, editor } = ctx;
  const courses = sys.client(CourseService);
  const assessments = sys.client(AssessmentService);
  const {
    courseId,
    students: [student],
  } = await ownCourse(ctx, "student");
  await sys
    .client(StaffService)
    .addAssistant({ courseId, userId: editor.userId, permissions: [Permission.CONTENT] }, owner.auth);
  const task = (
    await assessments.createAssessment(
      { courseId, assessment: exam({ kind: AssessmentKind.TASK, title: "Essay", timeLimitMinutes: 0 }) },
      owner.auth,
    )
  ).assessment!;
  const moveTo = (when: Date, auth = owner.auth) =>
    assessments.updateAssessment(
      {
        assessmentId: task.id,
        assessment: { dueTime: timestampFromDate(when) },
        updateMask: { paths: ["due_time"] },
      },
      auth,
    );
  const sql = postgres(sys.databases.courses, { max: 1 });
  const events = () => sql<{ event_type: string; recipients: object; data: Record<string, string> }[]>`
    select event_type, recipients, data from outbox where data->>'assessment_id' = ${task.id}
    order by created_at, id`;
  try {
    // A draft: students cannot see it, so they hear nothing. The publication names the time it has then.
    const draftDue = timestampDate(at(3 * DAY));
    await moveTo(draftDue);
    assert.is((await events()).length, 0);
    await assessments.publishAssessment({ assessmentId: task.id }, owner.auth);
    assert.is((await events())[0]?.data["due_time"], draftDue.toISOString());

    // Other edits, and the same due time again, say nothing.
    await assessments.updateAssessment(
      { assessmentId: task.id, assessment: { title: "Essay on Raft" }, updateMask: { paths: ["title"] } },
      owner.auth,
    );
    await moveTo(draftDue);
    assert.is((await events()).length, 1);

    // Refused callers change nothing and tell no one.
    await rejects(moveTo(timestampDate(at(9 * DAY)), student.auth), Code.PermissionDenied);
    await invalid(
      assessments.updateAssessment(
        { assessmentId: task.id, assessment: { dueTime: undefined }, updateMask: { paths: ["due_time"] } },
        owner.auth,
      ),
      ["assessment.due_time"],
    );
    assert.is((await events()).length, 1);

    // A move by an assistant with the content permission: one notice to the course's students.
    const later = timestampDate(at(5 * DAY));
    await moveTo(later, editor.auth);
    const moved = (await events()).slice(1);
    assert.equal(
      moved.map((e) => [e.event_type, e.recipients]),
      [["DUE_TIME_CHANGED", { courseId }]],
    );
    assert.equal(moved[0]!.data, {
      course_id: courseId,
      course_title: courseInput().title,
      assessment_id: task.id,
      assessment_title: "Essay on Raft",
      due_time: later.toISOString(),
      previous_due_time: draftDue.toISOString(),
    });
    await sys.eventually(async () => {
      const inbox = await sys.client(NotificationService).listNotifications({}, student.auth);
      const notice = inbox.notifications.find((n) => n.eventType === EventType.DUE_TIME_CHANGED);
      assert.ok(notice, "the student's inbox has the notice");
      assert.match(notice.body, /^"Essay on Raft" is now due .+ \(it was due .+\)\.$/);
    });

    // A finished course takes no more work: its students are not told.
    await courses.finishCourse({ courseId }, owner.auth);
    await moveTo(timestampDate(at(6 * DAY)));
    assert.is((await events()).length, 2);
  } finally {
    await sql.end();
  }
});

test("students hear when published work changes its grace period, late policy or time limit: one notice per change", async (ctx) => {
  const { sys, owner, s1, courseId } = ctx;
  const assessments = sys.client(AssessmentService);
  const task = await publishedTask(ctx, { title: "Terms essay", gracePeriodMinutes: 60 });
  const examId = (
    await assessments.createAssessment({ courseId, assessment: exam({ title: "Terms exam" }) }, owner.auth)
  ).assessment!.id;
  await assessments.publishAssessment({ assessmentId: examId }, owner.auth);
  const change = (assessment: Init, paths: string[], assessmentId = task.id, auth = owner.auth) =>
    assessments.updateAssessment({ assessmentId, assessment, updateMask: { paths } }, auth);
  const sql = postgres(sys.databases.courses, { max: 1 });
  /** The notices after the publication, oldest first: type and the data beyond the names. */
  const notices = async (assessmentId = task.id) =>
    (
      await sql<{ event_type: string; recipients: object; data: Record<string, string> }[]>`
        select event_type, recipients, data from outbox
        where data->>'assessment_id' = ${assessmentId} and event_type <> 'ASSESSMENT_PUBLISHED'
        order by created_at, id`
    ).map((e) => {
      const { course_id, course_title, assessment_id, assessment_title, ...terms } = e.data;
      assert.equal(e.recipients, { courseId });
      assert.equal([course_id, course_title, assessment_id], [courseId, courseInput().title, assessmentId]);
      return [e.event_type, assessment_title, terms];
    });
  try {
    // Refused or invalid changes, a title, and the same grace period again tell no one.
    await rejects(
      change({ gracePeriodMinutes: 5 }, ["grace_period_minutes"], task.id, s1.auth),
      Code.PermissionDenied,
    );
    await invalid(change({ latePolicy: LatePolicy.PENALTY, latePenaltyPercent: 0 }, ["late_policy"]), [
      "assessment.late_penalty_percent",
    ]);
    await change({ title: "Terms essay, v2" }, ["title"]);
    await change({ gracePeriodMinutes: 60 }, ["grace_period_minutes"]);
    assert.equal(await notices(), []);

    await change({ gracePeriodMinutes: 30 }, ["grace_period_minutes"]);
    await change({ latePolicy: LatePolicy.PENALTY, latePenaltyPercent: 20 }, [
      "late_policy",
      "late_penalty_percent",
    ]);
    await change({ latePenaltyPercent: 25 }, ["late_penalty_percent"]);
    const due = timestampDate(at(4 * DAY));
    await change({ dueTime: timestampFromDate(due), latePolicy: LatePolicy.REJECT }, [
      "due_time",
      "late_policy",
    ]);
    const before = timestampDate(task.dueTime!).toISOString();
    assert.equal(await notices(), [
      [
        "ASSESSMENT_TERMS_CHANGED",
        "Terms essay, v2",
        { grace_period_minutes: "30", previous_grace_period_minutes: "60" },
      ],
      [
        "ASSESSMENT_TERMS_CHANGED",
        "Terms essay, v2",
        {
          late_policy: "PENALTY",
          late_penalty_percent: "20",
          previous_late_policy: "ACCEPT_FLAGGED",
          previous_late_penalty_percent: "0",
        },
      ],
      [
        "ASSESSMENT_TERMS_CHANGED",
        "Terms essay, v2",
        {
          late_policy: "PENALTY",
          late_penalty_percent: "25",
          previous_late_policy: "PENALTY",
          previous_late_penalty_percent: "20",
        },
      ],
      // With the due time: one notice of the move, naming the other term too.
      [
        "DUE_TIME_CHANGED",
        "Terms essay, v2",
        {
          due_time: due.toISOString(),
          previous_due_time: before,
          late_policy: "REJECT",
          late_penalty_percent: "0",
          previous_late_policy: "PENALTY",
          previous_late_penalty_percent: "25",
        },
      ],
    ]);

    // An exam's longer time limit.
    await change({ timeLimitMinutes: 90 }, ["time_limit_minutes"], examId);
    assert.equal(await notices(examId), [
      [
        "ASSESSMENT_TERMS_CHANGED",
        "Terms exam",
        { time_limit_minutes: "90", previous_time_limit_minutes: "60" },
      ],
    ]);

    await sys.eventually(async () => {
      const bodies = (await sys.client(NotificationService).listNotifications({}, s1.auth)).notifications
        .filter(
          (n) =>
            n.eventType === EventType.ASSESSMENT_TERMS_CHANGED || n.eventType === EventType.DUE_TIME_CHANGED,
        )
        .map((n) => n.body);
      for (const body of [
        '"Terms essay, v2" has new terms: grace period 30 minutes (was 60 minutes).',
        '"Terms essay, v2" has new terms: late work accepted with 20 % off (was accepted and flagged).',
        '"Terms exam" has new terms: time limit 90 minutes (was 60 minutes).',
      ]) {
        assert.ok(bodies.includes(body), `${body} in ${bodies.join(" | ")}`);
      }
      assert.ok(
        bodies.some((b) =>
          /^"Terms essay, v2" is now due .+ \(it was due .+\)\. Also changed: late work refused \(was accepted with 25 % off\)\.$/.test(
            b,
          ),
        ),
        bodies.join(" | "),
      );
    });
  } finally {
    await sql.end();
  }
});

test("students hear once when published work is deleted; drafts and refused deletes tell no one", async (ctx) => {
  const { sys, owner, editor, grader, s1, courseId } = ctx;
  const assessments = sys.client(AssessmentService);
  const sql = postgres(sys.databases.courses, { max: 1 });
  const events = (assessmentId: string) => sql<
    { event_type: string; recipients: object; data: Record<string, string> }[]
  >`select event_type, recipients, data from outbox where data->>'assessment_id' = ${assessmentId}
    order by created_at, id`;
  const remove = (assessmentId: string, auth = owner.auth, confirm = true) =>
    assessments.deleteAssessment({ assessmentId, confirm }, auth);
  try {
    // A draft: no student saw it.
    const draft = (
      await assessments.createAssessment(
        { courseId, assessment: exam({ title: "Unseen draft" }) },
        owner.auth,
      )
    ).assessment!;
    await remove(draft.id);
    assert.equal(
      (await events(draft.id)).map((e) => e.event_type),
      [],
    );

    const task = await publishedTask(ctx, { title: "Doomed essay" });
    // Refused: a student, an assistant who may only grade, no token, no confirmation.
    await rejects(remove(task.id, s1.auth), Code.PermissionDenied);
    await rejects(remove(task.id, grader.auth), Code.PermissionDenied);
    await rejects(remove(task.id, { headers: {} }), Code.Unauthenticated);
    await invalid(remove(task.id, owner.auth, false), ["confirm"]);
    assert.equal(
      (await events(task.id)).map((e) => e.event_type),
      ["ASSESSMENT_PUBLISHED"],
    );

    // Deleted by an assistant with the content permission, three times at once: one notice.
    const deleted = await Promise.allSettled([1, 2, 3].map(() => remove(task.id, editor.auth)));
    assert.ok(deleted.some((d) => d.status === "fulfilled"));
    const notices = (await events(task.id)).slice(1);
    assert.equal(
      notices.map((e) => [e.event_type, e.recipients, e.data]),
      [
        [
          "ASSESSMENT_DELETED",
          { courseId },
          {
            course_id: courseId,
            course_title: courseInput().title,
            assessment_id: task.id,
            assessment_title: "Doomed essay",
          },
        ],
      ],
    );
    await rejects(remove(task.id), Code.NotFound);
    await sys.eventually(async () => {
      const inbox = await sys.client(NotificationService).listNotifications({}, s1.auth);
      assert.ok(
        inbox.notifications.some(
          (n) =>
            n.eventType === EventType.ASSESSMENT_DELETED &&
            n.body ===
              `"Doomed essay" was deleted from ${courseInput().title}, with any work handed in for it.`,
        ),
      );
    });
  } finally {
    await sql.end();
  }
});

test("a due time moved while the work is being published: the students' last notice names the time it has", async (ctx) => {
  const { sys, owner } = ctx;
  const assessments = sys.client(AssessmentService);
  const courseId = (await sys.client(CourseService).createCourse({ course: courseInput() }, owner.auth))
    .course!.id;
  const first = timestampDate(at(3 * DAY));
  const moved = timestampDate(at(4 * DAY));
  const sql = postgres(sys.databases.courses, { max: 1 });
  try {
    // Publication and a move race, sent in either order: whichever commits first, students
    // are told the time the work ends up with, and told once about each time they hold.
    for (let i = 0; i < 12; i++) {
      const draft = (
        await assessments.createAssessment(
          {
            courseId,
            assessment: exam({
              kind: AssessmentKind.TASK,
              timeLimitMinutes: 0,
              dueTime: timestampFromDate(first),
            }),
          },
          owner.auth,
        )
      ).assessment!;
      const publish = () => assessments.publishAssessment({ assessmentId: draft.id }, owner.auth);
      const move = () =>
        assessments.updateAssessment(
          {
            assessmentId: draft.id,
            assessment: { dueTime: timestampFromDate(moved) },
            updateMask: { paths: ["due_time"] },
          },
          owner.auth,
        );
      await Promise.all(i % 2 === 0 ? [publish(), move()] : [move(), publish()]);
      const events = await sql<{ event_type: string; data: Record<string, string> }[]>`
        select event_type, data from outbox where data->>'assessment_id' = ${draft.id}`;
      const published = events.filter((e) => e.event_type === "ASSESSMENT_PUBLISHED");
      const changes = events.filter((e) => e.event_type === "DUE_TIME_CHANGED");
      assert.is(published.length, 1, "one publication notice");
      assert.is(events.length, published.length + changes.length);
      const announced = published[0]!.data["due_time"];
      if (announced === moved.toISOString()) {
        assert.is(changes.length, 0, "moved before publication: the publication names the new time");
      } else {
        assert.is(announced, first.toISOString());
        assert.equal(
          changes.map((c) => [c.data["previous_due_time"], c.data["due_time"]]),
          [[first.toISOString(), moved.toISOString()]],
          "moved after publication: one notice of the move",
        );
      }
      const now = (await assessments.getAssessment({ assessmentId: draft.id }, owner.auth)).assessment!;
      assert.equal(timestampDate(now.dueTime!), moved);
    }
  } finally {
    await sql.end();
  }
});

test.run();
