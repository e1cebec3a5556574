import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate, timestampNow } from "@bufbuild/protobuf/wkt";
import { courseInput, DAY, type System, startSystem, type TestUser } from "@classconnect/gateway/testing";
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
import { FeedbackService } from "@classconnect/gen/classconnect/courses/v1/feedback_service_pb.js";
import { DeliveryLogService } from "@classconnect/gen/classconnect/notifications/v1/delivery_log_service_pb.js";
import { DispatchService } from "@classconnect/gen/classconnect/notifications/v1/dispatch_service_pb.js";
import {
  Channel,
  DeliveryStatus,
  DevicePlatform,
  EventPreferenceSchema,
  EventType,
  type Preferences,
} from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import { periodOf } from "@classconnect/platform";
import { invalid, rejects } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const test = suite<{ sys: System }>("notifications: end to end");

/** A one-question task, not yet published, due at `due`. */
async function draftTask(sys: System, teacher: TestUser, courseId: string, title: string, due: Date) {
  const created = await sys.client(AssessmentService).createAssessment(
    {
      courseId,
      assessment: create(AssessmentInputSchema, {
        kind: AssessmentKind.TASK,
        title,
        dueTime: timestampFromDate(due),
        latePolicy: LatePolicy.ACCEPT_FLAGGED,
        questions: [{ id: "q", kind: QuestionKind.FREE_TEXT, prompt: "p", points: 1 }],
      }),
    },
    teacher.auth,
  );
  return created.assessment!;
}
test.before(async (ctx) => {
  ctx.sys = await startSystem();
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

test("a student enrolls: an inbox item and an e-mail arrive, and the log records both", async ({ sys }) => {
  const teacher = await sys.register();
  const student = await sys.register({ firstName: "Nia" });
  const course = (
    await sys
      .client(CourseService)
      .createCourse({ course: courseInput({ title: "Signals", capacity: 50 }) }, teacher.auth)
  ).course!;
  await sys.client(EnrollmentService).enroll({ courseId: course.id }, student.auth);
  const inbox = await sys.eventually(async () => {
    const res = await sys.client(NotificationService).listNotifications({}, student.auth);
    assert.is(res.notifications.length, 1);
    return res;
  });
  assert.equal(
    [inbox.notifications[0]?.eventType, inbox.notifications[0]?.title, inbox.unreadCount],
    [EventType.ENROLLED, "You are enrolled", 1],
  );
  assert.match(inbox.notifications[0]!.body, /Signals/);
  const mail = await sys.eventually(() => {
    const m = sys.mailbox.find((x) => x.to === student.email && x.subject.startsWith("You are enrolled"));
    assert.ok(m);
    return m!;
  });
  assert.match(mail.text, /Hello Nia,/);
  assert.match(mail.html, /<p>Welcome to Signals\.<\/p>/);
  const log = await sys
    .client(DeliveryLogService)
    .listDeliveries({ recipientId: student.userId, eventType: EventType.ENROLLED }, await sys.adminAuth());
  const now = timestampFromDate(new Date());
  await invalid(
    sys.client(DeliveryLogService).listDeliveries({ fromTime: now, toTime: now }, await sys.adminAuth()),
    ["to_time"],
  );
  assert.equal(
    log.deliveries.map((d) => [d.channel, d.status]).sort(),
    [
      [Channel.EMAIL, DeliveryStatus.SENT],
      [Channel.IN_APP, DeliveryStatus.SENT],
    ].sort(),
  );
  // The account e-mails (PIN, welcome) come through the same service, from the users service's
  // outbox (its relay runs on its own: the PIN need not have arrived before the enrollment's).
  await sys.eventually(() => {
    assert.ok(sys.mailbox.some((m) => m.to === student.email && /PIN is \d{6}/.test(m.text)));
  });
  // So does the warning that the password changed.
  await sys
    .client(AuthService)
    .changePassword({ currentPassword: student.password, newPassword: "another password" }, student.auth);
  await sys.eventually(() => {
    const warning = sys.mailbox.find(
      (m) => m.to === student.email && m.subject.startsWith("Your password was changed"),
    );
    assert.ok(warning);
    assert.match(warning.text, 'reset your password now with "Forgot password"');
  });
  // And the warning to the old address when the e-mail changes.
  const renamed = `renamed-${student.email}`;
  await sys
    .client(UserService)
    .updateMe(
      { user: { email: renamed }, updateMask: { paths: ["email"] }, password: "another password" },
      student.auth,
    );
  await sys.eventually(() => {
    const warning = sys.mailbox.find(
      (m) => m.to === student.email && m.subject.startsWith("Your e-mail address was changed"),
    );
    assert.ok(warning);
    assert.match(warning.text, "was just changed to r***@");
  });
});

test("an address nobody has confirmed gets notices in the inbox, not by e-mail, until its PIN is entered", async ({
  sys,
}) => {
  const teacher = await sys.register();
  const student = await sys.register({ firstName: "Uma", verified: false });
  const course = (await sys.client(CourseService).createCourse({ course: courseInput() }, teacher.auth))
    .course!;
  await sys.client(EnrollmentService).enroll({ courseId: course.id }, student.auth);
  const admin = await sys.adminAuth();
  const log = (eventType: EventType) =>
    sys
      .client(DeliveryLogService)
      .listDeliveries({ recipientId: student.userId, eventType }, admin)
      .then((r) => r.deliveries.map((d) => [d.channel, d.status, d.reason]).sort());
  await sys.eventually(async () =>
    assert.equal(
      await log(EventType.ENROLLED),
      [
        [Channel.EMAIL, DeliveryStatus.SKIPPED_UNVERIFIED, "the e-mail address is not confirmed"],
        [Channel.IN_APP, DeliveryStatus.SENT, ""],
      ].sort(),
    ),
  );
  assert.ok(
    (await sys.client(NotificationService).listNotifications({}, student.auth)).notifications.some(
      (n) => n.eventType === EventType.ENROLLED,
    ),
  );
  // The account's own e-mails go regardless: that is how the PIN arrives.
  const pin = await sys.eventually(() => {
    const m = sys.mailbox.find((x) => x.to === student.email && /PIN is \d{6}/.test(x.text));
    assert.ok(m);
    return /PIN is (\d{6})/.exec(m.text)![1]!;
  });
  assert.not.ok(sys.mailbox.some((m) => m.to === student.email && m.subject.startsWith("You are enrolled")));

  await sys.client(AuthService).verifyEmail({ pin }, student.auth);
  await sys
    .client(FeedbackService)
    .createStudentFeedback(
      { courseId: course.id, studentId: student.userId, score: 80, comment: "Good start" },
      teacher.auth,
    );
  await sys.eventually(() =>
    assert.ok(sys.mailbox.some((m) => m.to === student.email && m.subject.startsWith("New feedback"))),
  );
  assert.equal(
    await log(EventType.FEEDBACK_RECEIVED),
    [
      [Channel.EMAIL, DeliveryStatus.SENT, ""],
      [Channel.IN_APP, DeliveryStatus.SENT, ""],
    ].sort(),
  );
});

test("a due time reaches each student in their own time zone, in the inbox and by e-mail", async ({
  sys,
}) => {
  const teacher = await sys.register();
  const [madrid, plain] = [await sys.register(), await sys.register()];
  await sys
    .client(UserService)
    .updateMe({ user: { timeZone: "Europe/Madrid" }, updateMask: { paths: ["time_zone"] } }, madrid.auth);
  const course = (
    await sys.client(CourseService).createCourse({ course: courseInput({ title: "Zones" }) }, teacher.auth)
  ).course!;
  for (const s of [madrid, plain])
    await sys.client(EnrollmentService).enroll({ courseId: course.id }, s.auth);
  const task = await draftTask(sys, teacher, course.id, "Zoned homework", new Date("2027-01-05T18:00:00Z"));
  await sys.client(AssessmentService).publishAssessment({ assessmentId: task.id }, teacher.auth);
  const expected = [
    [madrid, '"Zoned homework" is published, due Tue, 5 Jan 2027, 19:00 CET.'],
    [plain, '"Zoned homework" is published, due Tue, 5 Jan 2027, 18:00 UTC.'],
  ] as const;
  for (const [student, body] of expected) {
    await sys.eventually(async () => {
      const inbox = await sys.client(NotificationService).listNotifications({}, student.auth);
      assert.ok(
        inbox.notifications.some((n) => n.eventType === EventType.ASSESSMENT_PUBLISHED && n.body === body),
      );
      assert.ok(
        sys.mailbox.some((m) => m.to === student.email && m.text.includes(body)),
        "and by e-mail",
      );
    });
  }
});

test("with e-mail turned off for enrollments, the log says skipped by preference", async ({ sys }) => {
  const teacher = await sys.register();
  const student = await sys.register();
  const notifications = sys.client(NotificationService);
  const defaults = (await notifications.getPreferences({}, student.auth)).preferences!;
  assert.equal([defaults.emailEnabled, defaults.pushEnabled], [true, true], "opted in at registration");
  const updated = await notifications.updatePreferences(
    {
      preferences: {
        emailEnabled: true,
        pushEnabled: true,
        events: [{ eventType: EventType.ENROLLED, email: false, push: true, inApp: true }],
      },
    },
    student.auth,
  );
  assert.is(updated.preferences?.events.find((e) => e.eventType === EventType.ENROLLED)?.email, false);
  const course = (
    await sys
      .client(CourseService)
      .createCourse({ course: courseInput({ title: "Quiet", capacity: 50 }) }, teacher.auth)
  ).course!;
  await sys.client(EnrollmentService).enroll({ courseId: course.id }, student.auth);
  const admin = await sys.adminAuth();
  const log = await sys.eventually(async () => {
    const res = await sys
      .client(DeliveryLogService)
      .listDeliveries({ recipientId: student.userId, eventType: EventType.ENROLLED }, admin);
    assert.is(res.deliveries.length, 2);
    return res;
  });
  assert.equal(
    log.deliveries.map((d) => [d.channel, d.status, d.reason]).sort(),
    [
      [Channel.EMAIL, DeliveryStatus.SKIPPED_BY_PREFERENCE, "turned off by the user"],
      [Channel.IN_APP, DeliveryStatus.SENT, ""],
    ].sort(),
  );
  assert.not.ok(sys.mailbox.some((m) => m.to === student.email && m.subject.includes("enrolled")));
  await rejects(
    notifications.updatePreferences(
      { preferences: { events: [{ eventType: EventType.UNSPECIFIED }] } },
      student.auth,
    ),
    Code.InvalidArgument,
  );
  await rejects(
    notifications.updatePreferences(
      { preferences: { events: [{ eventType: EventType.ENROLLED }, { eventType: EventType.ENROLLED }] } },
      student.auth,
    ),
    Code.InvalidArgument,
  );
  await rejects(
    notifications.updatePreferences(
      { preferences: { events: [{ eventType: EventType.ACCOUNT_PIN }] } },
      student.auth,
    ),
    Code.InvalidArgument,
  );
  await rejects(notifications.updatePreferences({}, student.auth), Code.InvalidArgument);
  await rejects(notifications.getPreferences({}), Code.Unauthenticated);

  // With a mask only what it names changes: here one event type, and then push alone.
  const emailOf = (p: Preferences | undefined, type: EventType) =>
    p?.events.find((e) => e.eventType === type)?.email;
  const oneType = (
    await notifications.updatePreferences(
      {
        preferences: {
          events: [{ eventType: EventType.SUBMISSION_GRADED, email: false, push: true, inApp: true }],
        },
        updateMask: { paths: ["events"] },
      },
      student.auth,
    )
  ).preferences!;
  assert.equal(
    [emailOf(oneType, EventType.SUBMISSION_GRADED), emailOf(oneType, EventType.ENROLLED)],
    [false, false],
    "the type named changed; ENROLLED kept the value set before",
  );
  assert.equal([oneType.emailEnabled, oneType.pushEnabled], [true, true], "the switches were not named");
  const pushOff = (
    await notifications.updatePreferences(
      { preferences: { pushEnabled: false }, updateMask: { paths: ["push_enabled"] } },
      student.auth,
    )
  ).preferences!;
  assert.equal(pushOff, { ...oneType, pushEnabled: false });
  assert.equal((await notifications.getPreferences({}, student.auth)).preferences, pushOff);
  await invalid(
    notifications.updatePreferences(
      { preferences: { pushEnabled: true }, updateMask: { paths: ["events.push"] } },
      student.auth,
    ),
    ["update_mask"],
  );
  await invalid(
    notifications.updatePreferences({ preferences: { pushEnabled: true }, updateMask: {} }, student.auth),
    ["update_mask"],
  );
  assert.equal(
    (await notifications.getPreferences({}, student.auth)).preferences,
    pushOff,
    "refused: unchanged",
  );

  // Preferences stored before an event type existed still list it, on, as deliveries treat it.
  const sql = postgres(sys.databases.notifications, { max: 1 });
  try {
    await sql`
      update preferences set preferences = jsonb_set(preferences, '{events}',
        (select coalesce(jsonb_agg(e), '[]') from jsonb_array_elements(preferences->'events') e
         where e->>'eventType' <> 'DUE_TIME_CHANGED'))
      where user_id = ${student.userId}`;
  } finally {
    await sql.end();
  }
  const listed = (await notifications.getPreferences({}, student.auth)).preferences!;
  assert.equal(
    listed.events.find((e) => e.eventType === EventType.DUE_TIME_CHANGED),
    create(EventPreferenceSchema, {
      eventType: EventType.DUE_TIME_CHANGED,
      push: true,
      email: true,
      inApp: true,
    }),
  );
  assert.equal(listed, pushOff, "every other choice as stored");
});

test("a user deletes their account: their devices, preferences and inbox are erased; others' stay", async ({
  sys,
}) => {
  const notifications = sys.client(NotificationService);
  const [leaving, staying] = [await sys.register(), await sys.register()];
  for (const [i, u] of [leaving, staying].entries()) {
    await notifications.registerDevice(
      { token: `delete-test-${i}-${randomUUID()}`, platform: DevicePlatform.IOS },
      u.auth,
    );
    await notifications.updatePreferences(
      { preferences: { emailEnabled: true, pushEnabled: false } },
      u.auth,
    );
  }
  const teacher = await sys.register();
  const course = (await sys.client(CourseService).createCourse({ course: courseInput() }, teacher.auth))
    .course!;
  for (const u of [leaving, staying])
    await sys.client(EnrollmentService).enroll({ courseId: course.id }, u.auth);
  const sql = postgres(sys.databases.notifications, { max: 1 });
  try {
    const kept = (userId: string) => sql<{ n: number }[]>`
      select (select count(*) from devices where user_id = ${userId})::int
           + (select count(*) from preferences where user_id = ${userId})::int
           + (select count(*) from inbox where user_id = ${userId})::int as n`;
    await sys.eventually(async () => assert.is((await kept(leaving.userId))[0]!.n, 3));

    await sys.client(UserService).deleteMe({ password: leaving.password, confirm: true }, leaving.auth);

    await sys.eventually(async () => assert.is((await kept(leaving.userId))[0]!.n, 0));
    assert.is((await kept(staying.userId))[0]!.n, 3);
    const admin = await sys.adminAuth();
    const log = await sys.client(DeliveryLogService).listDeliveries({ recipientId: leaving.userId }, admin);
    assert.ok(log.deliveries.length > 0, "the log keeps what was sent");
    assert.not.ok(
      log.deliveries.some((d) => d.recipientAddress.includes(leaving.email)),
      "but not where to",
    );
    // An account deletion names users, never a course or everyone.
    const dispatch = sys.internalClient(DispatchService, "notifications");
    for (const recipients of [{ courseId: course.id }, { allUsers: true }]) {
      await invalid(
        dispatch.publishEvent({ eventId: randomUUID(), eventType: EventType.ACCOUNT_DELETED, recipients }),
        ["recipients"],
      );
    }
    assert.is((await kept(staying.userId))[0]!.n, 3, "nobody else was erased");
    // Later events find nobody to reach.
    await sys.internalClient(DispatchService, "notifications").publishEvent({
      eventId: randomUUID(),
      eventType: EventType.FEEDBACK_RECEIVED,
      recipients: { userIds: [leaving.userId, staying.userId] },
      data: { course_title: "After" },
    });
    await sys.eventually(async () => {
      const after = await notifications.listNotifications({}, staying.auth);
      assert.ok(after.notifications.some((n) => n.body.includes("After")));
    });
    assert.is((await kept(leaving.userId))[0]!.n, 0);
  } finally {
    await sql.end();
  }
});

test("PublishEvent is idempotent by event id; devices receive pushes; inbox read marks", async ({ sys }) => {
  const user = await sys.register();
  const notifications = sys.client(NotificationService);
  await notifications.registerDevice(
    { token: "device-token-1", platform: DevicePlatform.ANDROID },
    user.auth,
  );
  await rejects(
    notifications.registerDevice({ token: "t", platform: DevicePlatform.UNSPECIFIED }, user.auth),
    Code.InvalidArgument,
  );
  await rejects(
    notifications.registerDevice({ token: "", platform: DevicePlatform.IOS }, user.auth),
    Code.InvalidArgument,
  );
  // Internal callers reach DispatchService directly (the gateway refuses it).
  const dispatch = sys.internalClient(DispatchService, "notifications");
  const eventId = randomUUID();
  const event = {
    eventId,
    eventType: EventType.FEEDBACK_RECEIVED,
    recipients: { userIds: [user.userId] },
    data: { course_title: "Idem" },
  };
  assert.is((await dispatch.publishEvent(event)).accepted, true);
  assert.is((await dispatch.publishEvent(event)).accepted, false);
  await rejects(
    dispatch.publishEvent({ ...event, eventId: randomUUID(), recipients: {} }),
    Code.InvalidArgument,
  );
  await rejects(dispatch.publishEvent({ ...event, eventId: "x" }), Code.InvalidArgument);
  const inbox = await sys.eventually(async () => {
    const res = await notifications.listNotifications({ unreadOnly: true }, user.auth);
    assert.ok(res.notifications.some((n) => n.eventType === EventType.FEEDBACK_RECEIVED));
    return res;
  });
  assert.is(inbox.notifications.filter((n) => n.eventType === EventType.FEEDBACK_RECEIVED).length, 1);
  await sys.eventually(() => assert.ok(sys.pushes.some((p) => p.tokens.includes("device-token-1"))));
  assert.is(
    sys.pushes.filter((p) => p.tokens.includes("device-token-1")).length,
    1,
    "one push for one event",
  );

  const feedbackItem = inbox.notifications.find((n) => n.eventType === EventType.FEEDBACK_RECEIVED)!;
  assert.is(
    (await notifications.markNotificationsRead({ notificationIds: [feedbackItem.id] }, user.auth))
      .markedCount,
    1,
  );
  // Two more, left unread.
  for (const title of ["Later", "Latest"]) {
    await dispatch.publishEvent({ ...event, eventId: randomUUID(), data: { course_title: title } });
  }
  await sys.eventually(async () =>
    assert.is((await notifications.listNotifications({}, user.auth)).unreadCount, 2),
  );
  const unread = 2;
  // Ambiguous or incomplete requests are refused and mark nothing.
  await invalid(notifications.markNotificationsRead({}, user.auth), ["notification_ids"]);
  await invalid(notifications.markNotificationsRead({ notificationIds: ["x"] }, user.auth), [
    "notification_ids[0]",
  ]);
  await invalid(
    notifications.markNotificationsRead({ notificationIds: [feedbackItem.id], all: true }, user.auth),
    ["all"],
  );
  await invalid(
    notifications.markNotificationsRead(
      { notificationIds: [feedbackItem.id], upToTime: timestampNow() },
      user.auth,
    ),
    ["up_to_time"],
  );
  assert.is((await notifications.listNotifications({}, user.auth)).unreadCount, unread);
  const all = await notifications.markNotificationsRead({ all: true }, user.auth);
  assert.is(all.markedCount, unread);
  assert.is((await notifications.listNotifications({}, user.auth)).unreadCount, 0);
  await notifications.unregisterDevice({ token: "device-token-1" }, user.auth);
});

test("the notifications service down while an assessment is published: after restart each student gets exactly one notice", async ({
  sys,
}) => {
  const teacher = await sys.register();
  const students = await Promise.all([sys.register(), sys.register(), sys.register()]);
  const course = (
    await sys
      .client(CourseService)
      .createCourse({ course: courseInput({ title: "Resilience", capacity: 50 }) }, teacher.auth)
  ).course!;
  for (const s of students) await sys.client(EnrollmentService).enroll({ courseId: course.id }, s.auth);
  const a = await draftTask(sys, teacher, course.id, "Outage homework", new Date(Date.now() + 3 * DAY));
  await sys.notifications.stop();
  await sys.client(AssessmentService).publishAssessment({ assessmentId: a.id }, teacher.auth);
  await new Promise((r) => setTimeout(r, 600));
  await sys.notifications.start();
  for (const s of students) {
    await sys.eventually(async () => {
      const res = await sys.client(NotificationService).listNotifications({}, s.auth);
      const published = res.notifications.filter((n) => n.eventType === EventType.ASSESSMENT_PUBLISHED);
      assert.is(published.length, 1);
      // The e-mail goes out on its own channel, maybe a little after the inbox item.
      assert.ok(sys.mailbox.some((m) => m.to === s.email && m.subject.startsWith("New in Resilience")));
    }, 15_000);
  }
  // Give any duplicate a chance to show up, then check again.
  await new Promise((r) => setTimeout(r, 500));
  for (const s of students) {
    const res = await sys.client(NotificationService).listNotifications({}, s.auth);
    assert.is(res.notifications.filter((n) => n.eventType === EventType.ASSESSMENT_PUBLISHED).length, 1);
    assert.is(
      sys.mailbox.filter((m) => m.to === s.email && m.subject.startsWith("New in Resilience")).length,
      1,
    );
  }
});

test("with a retention of 30 days, an older inbox item and finished event go; newer ones stay", async ({
  sys,
}) => {
  const teacher = await sys.register();
  const [early, late] = [await sys.register(), await sys.register()];
  const course = (await sys.client(CourseService).createCourse({ course: courseInput() }, teacher.auth))
    .course!;
  const inboxOf = async (u: typeof early) =>
    (await sys.client(NotificationService).listNotifications({}, u.auth)).notifications.filter(
      (n) => n.eventType === EventType.ENROLLED,
    );
  for (const s of [early, late]) {
    await sys.client(EnrollmentService).enroll({ courseId: course.id }, s.auth);
    await sys.eventually(async () => assert.is((await inboxOf(s)).length, 1));
  }
  // The early student's enrollment happened 31 days ago.
  const sql = postgres(sys.databases.notifications, { max: 1, onnotice: () => {} });
  try {
    const [event] = await sql<{ event_id: string }[]>`
      update inbox set created_at = now() - interval '31 days' where user_id = ${early.userId}
      returning event_id`;
    await sql`update events set created_at = now() - interval '31 days', expanded_at = now() - interval '31 days'
              where id = ${event!.event_id}`;
    assert.ok((await sys.notifications.pruneOld()) >= 2);
    assert.equal(await inboxOf(early), []);
    assert.is((await inboxOf(late)).length, 1);
    assert.is(
      (await sql`select 1 from deliveries where event_id = ${event!.event_id}`).length,
      0,
      "its log too",
    );
  } finally {
    await sql.end();
  }
});

test("ListDeliveries is for admins, with filters and pages", async ({ sys }) => {
  const user = await sys.register();
  const log = sys.client(DeliveryLogService);
  await rejects(log.listDeliveries({}, user.auth), Code.PermissionDenied);
  await rejects(log.listDeliveries({}), Code.Unauthenticated);
  const admin = await sys.adminAuth();
  const p1 = await log.listDeliveries({ pageSize: 2 }, admin);
  assert.is(p1.deliveries.length, 2);
  const p2 = await log.listDeliveries({ pageSize: 2, pageToken: p1.nextPageToken }, admin);
  assert.not.ok(p2.deliveries.some((d) => p1.deliveries.some((x) => x.id === d.id)));
  const sentEmails = await log.listDeliveries(
    { channel: Channel.EMAIL, status: DeliveryStatus.SENT, pageSize: 100 },
    admin,
  );
  assert.ok(
    sentEmails.deliveries.every((d) => d.channel === Channel.EMAIL && d.status === DeliveryStatus.SENT),
  );
  await rejects(log.listDeliveries({ recipientId: "nope" }, admin), Code.InvalidArgument);
  await rejects(log.listDeliveries({ channel: 9 as Channel }, admin), Code.InvalidArgument);
});

test("a delivery a worker is sending shows as pending: in the log, its filter and the figures", async ({
  sys,
}) => {
  const student = await sys.register();
  const teacher = await sys.register();
  const course = (await sys.client(CourseService).createCourse({ course: courseInput() }, teacher.auth))
    .course!;
  await sys.client(EnrollmentService).enroll({ courseId: course.id }, student.auth);
  const log = sys.client(DeliveryLogService);
  const admin = await sys.adminAuth();
  const email = await sys.eventually(async () => {
    const [d] = (
      await log.listDeliveries(
        { recipientId: student.userId, channel: Channel.EMAIL, status: DeliveryStatus.SENT },
        admin,
      )
    ).deliveries;
    assert.ok(d);
    return d;
  });
  // As a worker holds it mid-send (the store's SENDING, leased for an hour).
  const sql = postgres(sys.databases.notifications, { max: 1, onnotice: () => {} });
  const hold = (status: number) =>
    sql`update deliveries set status = ${status}, next_attempt_at = now() + interval '1 hour' where id = ${email.id}`;
  try {
    await hold(5);
    const mine = await log.listDeliveries({ recipientId: student.userId, channel: Channel.EMAIL }, admin);
    assert.equal(
      mine.deliveries.map((d) => [d.id, d.status]),
      [[email.id, DeliveryStatus.PENDING]],
    );
    const pending = await log.listDeliveries(
      { recipientId: student.userId, status: DeliveryStatus.PENDING },
      admin,
    );
    assert.ok(
      pending.deliveries.some((d) => d.id === email.id),
      "found by the pending filter",
    );
    const { counts } = await sys
      .internalClient(DeliveryLogService, "notifications")
      .getDeliveryFigures({ period: periodOf(new Date(Date.now() - DAY), new Date(Date.now() + DAY)) });
    const known = Object.values(DeliveryStatus).filter((v) => typeof v === "number");
    assert.ok(
      counts.every((c) => known.includes(c.status)),
      `statuses counted: ${counts.map((c) => c.status)}`,
    );
    assert.ok(
      counts.some((c) => c.channel === Channel.EMAIL && c.status === DeliveryStatus.PENDING && c.count >= 1n),
    );
  } finally {
    await hold(DeliveryStatus.SENT);
    await sql.end();
  }
});

test.run();
