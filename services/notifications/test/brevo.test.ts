import { courseInput, type System, startSystem } from "@classconnect/gateway/testing";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { DeliveryLogService } from "@classconnect/gen/classconnect/notifications/v1/delivery_log_service_pb.js";
import {
  Channel,
  DeliveryStatus,
  EventType,
} from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createBrevoSender } from "../src/ports/email.js";
import { type FakeBrevo, startFakeBrevo } from "./fake-brevo.js";

const test = suite<{ sys: System; brevo: FakeBrevo }>("notifications: e-mail through the Brevo SDK");
test.before(async (ctx) => {
  ctx.brevo = await startFakeBrevo();
  ctx.sys = await startSystem({
    email: createBrevoSender({
      apiKey: "xkeysib-test",
      sender: { email: "no-reply@classconnect.test", name: "ClassConnect" },
      baseUrl: ctx.brevo.baseUrl,
    }),
  });
});
test.after(async (ctx) => {
  await ctx.sys?.close();
  await ctx.brevo.close();
});

async function settle(sys: System, brevo: FakeBrevo, emails: string[]) {
  await sys.eventually(() => {
    for (const e of emails)
      assert.ok(brevo.delivered().filter((d) => d === e).length >= 2, `PIN and welcome for ${e}`);
  });
}

test("503 twice, then accepted: exactly one e-mail, three attempts in the log", async ({ sys, brevo }) => {
  const teacher = await sys.register();
  const student = await sys.register();
  const course = (
    await sys
      .client(CourseService)
      .createCourse({ course: courseInput({ title: "Retries", capacity: 5 }) }, teacher.auth)
  ).course!;
  await settle(sys, brevo, [teacher.email, student.email]);
  assert.ok(
    brevo.calls.every(
      (c) => c.apiKey === "xkeysib-test" && c.body.sender?.email === "no-reply@classconnect.test",
    ),
  );

  brevo.failNext(2, 503);
  const before = brevo.calls.length;
  await sys.client(EnrollmentService).enroll({ courseId: course.id }, student.auth);
  await sys.eventually(() =>
    assert.ok(brevo.delivered().some((d) => d === student.email) && brevo.calls.length >= before + 3),
  );
  const statuses = brevo.calls.slice(before).map((c) => c.status);
  assert.equal(statuses, [503, 503, 201]);
  const enrolledMails = brevo.calls
    .filter((c) => c.status === 201)
    .flatMap((c) => c.body.messageVersions ?? [])
    .filter((v) => v.to[0]?.email === student.email && v.subject?.startsWith("You are enrolled"));
  assert.is(enrolledMails.length, 1, "exactly one e-mail sent");
  const log = await sys
    .client(DeliveryLogService)
    .listDeliveries(
      { recipientId: student.userId, eventType: EventType.ENROLLED, channel: Channel.EMAIL },
      await sys.adminAuth(),
    );
  assert.equal(
    log.deliveries.map((d) => [d.status, d.attempts]),
    [[DeliveryStatus.SENT, 3]],
  );
});

test("429 is retried; a 400 fails at once with its reason logged", async ({ sys, brevo }) => {
  const a = await sys.register();
  await settle(sys, brevo, [a.email]);
  const teacher = await sys.register();
  await settle(sys, brevo, [teacher.email]);
  const course = (
    await sys
      .client(CourseService)
      .createCourse({ course: courseInput({ title: "Limits", capacity: 5 }) }, teacher.auth)
  ).course!;
  brevo.failNext(1, 429);
  await sys.client(EnrollmentService).enroll({ courseId: course.id }, a.auth);
  await sys.eventually(() =>
    assert.ok(brevo.delivered().includes(a.email) && brevo.calls.some((c) => c.status === 429)),
  );
  const b = await sys.register();
  await settle(sys, brevo, [b.email]);
  brevo.failNext(1, 400);
  await sys.client(EnrollmentService).enroll({ courseId: course.id }, b.auth);
  const admin = await sys.adminAuth();
  const failed = await sys.eventually(async () => {
    const res = await sys
      .client(DeliveryLogService)
      .listDeliveries(
        { recipientId: b.userId, eventType: EventType.ENROLLED, channel: Channel.EMAIL },
        admin,
      );
    assert.is(res.deliveries[0]?.status, DeliveryStatus.FAILED);
    return res.deliveries[0]!;
  });
  assert.equal([failed.reason, failed.attempts], ["brevo answered 400", 1]);
});

test.run();
