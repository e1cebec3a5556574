import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type System, startSystem, type TestUser } from "@classconnect/gateway/testing";
import {
  AssessmentKind,
  LatePolicy,
  QuestionKind,
} from "@classconnect/gen/classconnect/courses/v1/assessment_pb.js";
import { AssessmentService } from "@classconnect/gen/classconnect/courses/v1/assessment_service_pb.js";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { SubmissionService } from "@classconnect/gen/classconnect/courses/v1/submission_service_pb.js";
import { EventType } from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { reminderEvents } from "../src/domain/reminders.js";
import { courseInput, DAY } from "./fixtures.js";

const HOUR = 3_600_000;

interface Ctx {
  sys: System;
  owner: TestUser;
  students: TestUser[];
  courseId: string;
  /** The courses service's clock: the system's clock moves it forward. */
  now: number;
}

const test = suite<Ctx>("courses: deadline reminders");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
  ctx.now = Date.now();
  ctx.owner = await ctx.sys.register();
  ctx.students = await Promise.all([1, 2, 3].map(() => ctx.sys.register()));
  ctx.courseId = (await ctx.sys.client(CourseService).createCourse({ course: courseInput() }, ctx.owner.auth))
    .course!.id;
  for (const s of ctx.students)
    await ctx.sys.client(EnrollmentService).enroll({ courseId: ctx.courseId }, s.auth);
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

/** A task of one free-text question due `dueInMs` after the service's now, published unless `draft`. */
async function task(ctx: Ctx, title: string, dueInMs: number, draft = false) {
  const assessments = ctx.sys.client(AssessmentService);
  const a = (
    await assessments.createAssessment(
      {
        courseId: ctx.courseId,
        assessment: {
          kind: AssessmentKind.TASK,
          title,
          dueTime: timestampFromDate(new Date(ctx.now + dueInMs)),
          latePolicy: LatePolicy.ACCEPT_FLAGGED,
          passingScore: 50,
          questions: [{ id: "q", kind: QuestionKind.FREE_TEXT, prompt: "Write", points: 1 }],
        },
      },
      ctx.owner.auth,
    )
  ).assessment!;
  if (!draft) await assessments.publishAssessment({ assessmentId: a.id }, ctx.owner.auth);
  return a;
}

function advance(ctx: Ctx, ms: number) {
  ctx.sys.clock.advance(ms);
  ctx.now += ms;
}

/** The DEADLINE_REMINDER events the courses service recorded, oldest first. */
async function reminders(sys: System) {
  const sql = postgres(sys.databases.courses, { max: 1 });
  try {
    return await sql<{ recipients: { userIds: string[] }; data: Record<string, string> }[]>`
      select recipients, data from outbox where event_type = 'DEADLINE_REMINDER' order by created_at, id`;
  } finally {
    await sql.end();
  }
}

test("a day before a due time, the students who have not handed in are reminded, once", async (ctx) => {
  const { sys, owner, students } = ctx;
  const [s1, s2, s3] = students as [TestUser, TestUser, TestUser];
  const essay = await task(ctx, "Essay", 2 * DAY);
  await task(ctx, "Draft", 2 * DAY, true);
  await task(ctx, "Later", 10 * DAY);
  await task(ctx, "Past", -HOUR);
  await task(ctx, "Soon", 12 * HOUR); // published inside its window: its publication notice suffices
  await sys
    .client(SubmissionService)
    .submitAssessment({ assessmentId: essay.id, answers: [{ questionId: "q", text: "Done" }] }, s1.auth);

  assert.is(await sys.remindDeadlines(), 0, "nothing published before its window is due within a day yet");
  advance(ctx, DAY + HOUR);
  // Two sweeps at once (two replicas): one reminder.
  const swept = await Promise.all([sys.remindDeadlines(), sys.remindDeadlines()]);
  assert.is(swept[0] + swept[1], 1);
  assert.is(await sys.remindDeadlines(), 0, "once per due time");
  const [first, ...more] = await reminders(sys);
  assert.is(more.length, 0);
  assert.equal(first?.recipients.userIds, [s2.userId, s3.userId].sort(), "not s1, who handed in");
  assert.equal(
    [first?.data["assessment_id"], first?.data["assessment_title"], first?.data["course_id"]],
    [essay.id, "Essay", ctx.courseId],
  );
  assert.is(first?.data["due_time"], new Date(ctx.now + DAY - HOUR).toISOString());

  // The reminder reaches their inboxes through the notifications service.
  const item = await sys.eventually(async () => {
    const inbox = await sys.client(NotificationService).listNotifications({}, s2.auth);
    const found = inbox.notifications.find((n) => n.eventType === EventType.DEADLINE_REMINDER);
    assert.ok(found);
    return found;
  });
  assert.equal(
    [item.title, item.link],
    ["Due soon in Distributed Systems", `classconnect://assessments/${essay.id}`],
  );
  // The due time as people read it (the event's data keeps it ISO for apps).
  assert.match(
    item.body,
    /^"Essay" is due \w{3}, \d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC and you have not handed it in\.$/,
  );
  const s1Inbox = await sys.client(NotificationService).listNotifications({}, s1.auth);
  assert.not.ok(s1Inbox.notifications.some((n) => n.eventType === EventType.DEADLINE_REMINDER));

  // A postponed due time gets a reminder of its own, a day before it.
  await sys.client(AssessmentService).updateAssessment(
    {
      assessmentId: essay.id,
      assessment: { dueTime: timestampFromDate(new Date(ctx.now + 3 * DAY)) },
      updateMask: { paths: ["due_time"] },
    },
    owner.auth,
  );
  const postponed = new Date(ctx.now + 3 * DAY).toISOString();
  assert.is(await sys.remindDeadlines(), 0);
  advance(ctx, 2 * DAY + HOUR);
  assert.is(await sys.remindDeadlines(), 1, "the essay again; Later is still days away");
  const all = await reminders(sys);
  assert.equal(
    all.map((r) => [r.data["assessment_title"], r.data["due_time"]]),
    [
      ["Essay", first?.data["due_time"]],
      ["Essay", postponed],
    ],
  );
});

test("no reminders in a finished course", async (ctx) => {
  const { sys, owner } = ctx;
  const before = (await reminders(sys)).length;
  await task(ctx, "Last words", 2 * DAY);
  await sys.client(CourseService).finishCourse({ courseId: ctx.courseId, finalGrades: [] }, owner.auth);
  advance(ctx, DAY + HOUR);
  assert.is(await sys.remindDeadlines(), 0);
  assert.is((await reminders(sys)).length, before);
});

test.run();

const events = suite("courses: deadline reminder events");
events(
  "one notice to every student who owes the work (the outbox splits a large class); none when no one does",
  () => {
    const studentIds = Array.from({ length: 12_001 }, (_, i) => `student-${i}`);
    const reminder = {
      assessmentId: "a-1",
      courseId: "c-1",
      courseTitle: "Biology",
      title: "Lab report",
      dueTime: new Date("2026-12-01T18:00:00Z"),
      studentIds,
    };
    assert.equal(reminderEvents(reminder), [
      {
        type: "DEADLINE_REMINDER",
        recipients: { userIds: studentIds },
        data: {
          course_id: "c-1",
          course_title: "Biology",
          assessment_id: "a-1",
          assessment_title: "Lab report",
          due_time: "2026-12-01T18:00:00.000Z",
        },
      },
    ]);
    assert.equal(reminderEvents({ ...reminder, studentIds: [] }), [], "no one owes work: no event");
  },
);
events.run();
