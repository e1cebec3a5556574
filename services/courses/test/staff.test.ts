import { randomUUID } from "node:crypto";
import { type System, startSystem } from "@classconnect/gateway/testing";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { Permission, StaffService } from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import { EventType } from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import { PermissionDeniedError } from "@classconnect/platform";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createCourseStore } from "../src/store/courses.js";
import { createModuleStore } from "../src/store/modules.js";
import type { Activity } from "../src/store/staff.js";
import { courseInput, invalid, rejects } from "./fixtures.js";

const test = suite<{ sys: System }>("courses: StaffService");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

test("the owner adds, changes and revokes assistants; each is notified through the outbox", async ({
  sys,
}) => {
  const staff = sys.client(StaffService);
  const owner = await sys.register({ firstName: "Olga" });
  const ada = await sys.register({ firstName: "Ada" });
  const student = await sys.register();
  const c = (await sys.client(CourseService).createCourse({ course: courseInput() }, owner.auth)).course!;
  await sys.client(EnrollmentService).enroll({ courseId: c.id }, student.auth);

  const added = await staff.addAssistant(
    { courseId: c.id, userId: ada.userId, permissions: [Permission.CONTENT, Permission.GRADING] },
    owner.auth,
  );
  assert.equal([added.assistant?.user?.firstName, added.assistant?.owner], ["Ada", false]);
  assert.equal(added.assistant?.permissions, [Permission.CONTENT, Permission.GRADING]);
  await rejects(
    staff.addAssistant({ courseId: c.id, userId: ada.userId, permissions: [Permission.CONTENT] }, owner.auth),
    Code.AlreadyExists,
    "ALREADY_ASSISTANT",
  );
  await rejects(
    staff.addAssistant(
      { courseId: c.id, userId: randomUUID(), permissions: [Permission.CONTENT] },
      owner.auth,
    ),
    Code.NotFound,
  );
  await rejects(
    staff.addAssistant(
      { courseId: c.id, userId: student.userId, permissions: [Permission.CONTENT] },
      owner.auth,
    ),
    Code.FailedPrecondition,
    "USER_IS_STUDENT",
  );
  await rejects(
    staff.addAssistant(
      { courseId: c.id, userId: student.userId, permissions: [Permission.CONTENT] },
      ada.auth,
    ),
    Code.PermissionDenied,
    "NOT_COURSE_OWNER",
  );
  await invalid(staff.addAssistant({ courseId: c.id, userId: ada.userId, permissions: [] }, owner.auth), [
    "permissions",
  ]);
  await invalid(
    staff.addAssistant(
      { courseId: c.id, userId: ada.userId, permissions: [Permission.UNSPECIFIED] },
      owner.auth,
    ),
    ["permissions[0]"],
  );
  await invalid(
    staff.addAssistant(
      { courseId: c.id, userId: ada.userId, permissions: [Permission.CONTENT, Permission.CONTENT] },
      owner.auth,
    ),
    ["permissions"],
  );
  await invalid(
    staff.addAssistant({ courseId: c.id, userId: "x", permissions: [Permission.CONTENT] }, owner.auth),
    ["user_id"],
  );

  const listed = await staff.listStaff({ courseId: c.id }, student.auth);
  assert.equal(
    listed.staff.map((m) => [m.user?.firstName, m.owner]),
    [
      ["Olga", true],
      ["Ada", false],
    ],
  );
  await rejects(
    staff.listStaff({ courseId: c.id }, (await sys.register()).auth),
    Code.PermissionDenied,
    "NOT_COURSE_MEMBER",
  );

  const changed = await staff.updateAssistant(
    { courseId: c.id, userId: ada.userId, permissions: [Permission.STATISTICS] },
    owner.auth,
  );
  assert.equal(changed.assistant?.permissions, [Permission.STATISTICS]);
  // The same permissions again change nothing, and tell Ada nothing.
  await staff.updateAssistant(
    { courseId: c.id, userId: ada.userId, permissions: [Permission.STATISTICS] },
    owner.auth,
  );
  await rejects(
    staff.updateAssistant(
      { courseId: c.id, userId: ada.userId, permissions: [Permission.CONTENT] },
      ada.auth,
    ),
    Code.PermissionDenied,
  );
  await rejects(
    staff.updateAssistant(
      { courseId: c.id, userId: student.userId, permissions: [Permission.CONTENT] },
      owner.auth,
    ),
    Code.NotFound,
  );
  await rejects(
    staff.removeAssistant({ courseId: c.id, userId: ada.userId }, student.auth),
    Code.PermissionDenied,
  );
  await staff.removeAssistant({ courseId: c.id, userId: ada.userId }, owner.auth);
  await rejects(staff.removeAssistant({ courseId: c.id, userId: ada.userId }, owner.auth), Code.NotFound);
  // Revoked: Ada can no longer edit.
  const course = (await sys.client(CourseService).getCourse({ courseId: c.id }, owner.auth)).course!;
  await rejects(
    sys
      .client(CourseService)
      .updateCourse(
        { courseId: c.id, etag: course.etag, course: { title: "Hijack" }, updateMask: { paths: ["title"] } },
        ada.auth,
      ),
    Code.PermissionDenied,
  );
  const sql = postgres(sys.databases.courses, { max: 1 });
  try {
    const events = await sql<{ event_type: string; data: Record<string, string> }[]>`
      select event_type, data from outbox where data->>'course_id' = ${c.id} and recipients->'userIds' ? ${ada.userId}
      order by created_at`;
    assert.equal(
      events.map((e) => e.event_type),
      ["ASSISTANT_ADDED", "ASSISTANT_UPDATED", "ASSISTANT_REMOVED"],
    );
    assert.is(events[1]?.data["permissions"], "view statistics");
  } finally {
    await sql.end();
  }
  // Ada reads the change in her inbox.
  await sys.eventually(async () => {
    const inbox = await sys.client(NotificationService).listNotifications({}, ada.auth);
    assert.ok(
      inbox.notifications.some(
        (n) =>
          n.eventType === EventType.ASSISTANT_UPDATED &&
          n.body === "In Distributed Systems you may now: view statistics.",
      ),
    );
  });
});

test("no one is both a student and an assistant of a course, even when enrolled and added at once", async ({
  sys,
}) => {
  const staff = sys.client(StaffService);
  const enrollment = sys.client(EnrollmentService);
  const courses = sys.client(CourseService);
  const owner = await sys.register();
  const c = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
  let students = 0;
  for (let round = 0; round < 8; round++) {
    const user = await sys.register();
    const [enrolled, added] = await Promise.allSettled([
      enrollment.enroll({ courseId: c.id }, user.auth),
      staff.addAssistant(
        { courseId: c.id, userId: user.userId, permissions: [Permission.GRADING] },
        owner.auth,
      ),
    ]);
    assert.is(
      [enrolled, added].filter((r) => r.status === "fulfilled").length,
      1,
      `round ${round}: one lands`,
    );
    if (enrolled.status === "fulfilled") {
      students++;
      await rejects(
        Promise.reject((added as PromiseRejectedResult).reason),
        Code.FailedPrecondition,
        "USER_IS_STUDENT",
      );
    } else {
      await rejects(Promise.reject(enrolled.reason), Code.FailedPrecondition, "TEACHER_CANNOT_ENROLL");
    }
  }
  const { staff: members } = await staff.listStaff({ courseId: c.id }, owner.auth);
  const { enrollments } = await enrollment.listStudents({ courseId: c.id, pageSize: 50 }, owner.auth);
  assert.is(enrollments.length, students);
  assert.is(members.filter((m) => !m.owner).length, 8 - students);
  // The seats follow the enrollments: a refused enrollment gives its seat back.
  const seats = (await courses.getCourse({ courseId: c.id }, owner.auth)).course!;
  assert.is(seats.enrolledCount, students);
});

test("an assistant's write is checked against their permissions where it is written: removed or changed since read, it is refused", async ({
  sys,
}) => {
  // Every method reads the caller's role, then writes; RemoveAssistant or UpdateAssistant
  // landing in between is met where the write logs its activity (a race through the API).
  const owner = await sys.register();
  const [removed, grader, editor] = [await sys.register(), await sys.register(), await sys.register()];
  const c = (await sys.client(CourseService).createCourse({ course: courseInput() }, owner.auth)).course!;
  const staff = sys.client(StaffService);
  for (const [who, permissions] of [
    [removed, [Permission.CONTENT]],
    [grader, [Permission.GRADING]],
    [editor, [Permission.CONTENT]],
  ] as const) {
    await staff.addAssistant(
      { courseId: c.id, userId: who.userId, permissions: [...permissions] },
      owner.auth,
    );
  }
  await staff.removeAssistant({ courseId: c.id, userId: removed.userId }, owner.auth);
  const sql = postgres(sys.databases.courses, { max: 1, onnotice: () => {} });
  try {
    const modules = createModuleStore(sql);
    const courses = createCourseStore(sql);
    const activity = (actorId: string): Activity => ({
      courseId: c.id,
      actorId,
      permission: Permission.CONTENT,
      action: "module.create",
      resourceType: "module",
      resourceId: "",
      details: "",
    });
    for (const who of [removed, grader]) {
      const err = await modules.create(c.id, "Sneaked in", "", activity(who.userId)).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, PermissionDeniedError);
      assert.is((err as PermissionDeniedError).reason, "MISSING_PERMISSION");
      const stale = await courses.update(c.id, 1, { title: "Sneaked in" }, activity(who.userId)).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(stale, PermissionDeniedError);
    }
    const [counts] = await sql<{ modules: number; log: number; title: string }[]>`
      select (select count(*)::int from modules where course_id = ${c.id}) as modules,
             (select count(*)::int from activity_log where course_id = ${c.id}) as log,
             (select title from courses where id = ${c.id}) as title`;
    assert.equal(counts, { modules: 0, log: 0, title: c.title }, "nothing written");
    // An assistant still holding the permission writes, and the log says so.
    assert.ok(await modules.create(c.id, "Week 1", "", activity(editor.userId)));
    const log = await sql`select actor_id, action from activity_log where course_id = ${c.id}`;
    assert.equal(
      log.map((r) => [r["actor_id"], r["action"]]),
      [[editor.userId, "module.create"]],
    );
  } finally {
    await sql.end();
  }
});

test("ListActivity: the owner reads what assistants did, filtered by assistant, paginated", async ({
  sys,
}) => {
  const staff = sys.client(StaffService);
  const courses = sys.client(CourseService);
  const owner = await sys.register();
  const a = await sys.register();
  const b = await sys.register();
  const c = (await courses.createCourse({ course: courseInput() }, owner.auth)).course!;
  await staff.addAssistant(
    { courseId: c.id, userId: a.userId, permissions: [Permission.CONTENT] },
    owner.auth,
  );
  await staff.addAssistant(
    { courseId: c.id, userId: b.userId, permissions: [Permission.CONTENT] },
    owner.auth,
  );
  let etag = c.etag;
  for (const who of [a, b, a]) {
    const res = await courses.updateCourse(
      { courseId: c.id, etag, course: { syllabus: randomUUID() }, updateMask: { paths: ["syllabus"] } },
      who.auth,
    );
    etag = res.course!.etag;
  }
  // The owner's own edits are not assistant activity.
  await courses.updateCourse(
    { courseId: c.id, etag, course: { syllabus: "by owner" }, updateMask: { paths: ["syllabus"] } },
    owner.auth,
  );
  const all = await staff.listActivity({ courseId: c.id }, owner.auth);
  assert.equal(
    all.entries.map((e) => e.actorId),
    [a.userId, b.userId, a.userId],
  );
  const onlyA = await staff.listActivity({ courseId: c.id, actorId: a.userId }, owner.auth);
  assert.is(onlyA.entries.length, 2);
  const p1 = await staff.listActivity({ courseId: c.id, pageSize: 2 }, owner.auth);
  const p2 = await staff.listActivity(
    { courseId: c.id, pageSize: 2, pageToken: p1.nextPageToken },
    owner.auth,
  );
  assert.equal(
    [...p1.entries, ...p2.entries].map((e) => e.id),
    all.entries.map((e) => e.id),
  );
  await rejects(staff.listActivity({ courseId: c.id }, a.auth), Code.PermissionDenied, "NOT_COURSE_OWNER");
  await invalid(staff.listActivity({ courseId: c.id, actorId: "x" }, owner.auth), ["actor_id"]);
  await rejects(staff.listActivity({ courseId: randomUUID() }, owner.auth), Code.NotFound);
});

test.run();
