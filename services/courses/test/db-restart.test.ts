/**
 * PostgreSQL restarted in the middle of a stream of enrollments: the services
 * recover by themselves (no restart), and every enrollment they acknowledged is
 * still there afterwards.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type System, startSystem, type TestUser } from "@classconnect/gateway/testing";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from "@classconnect/platform";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { courseInput } from "./fixtures.js";

const test = suite<{ sys: System; pg: EmbeddedPostgresHandle; dataDir: string }>(
  "reliability: PostgreSQL restarted mid-load",
);
test.before(async (ctx) => {
  ctx.dataDir = join(mkdtempSync(join(tmpdir(), "classconnect-restart-")), "pg");
  ctx.pg = await startEmbeddedPostgres({ dataDir: ctx.dataDir, persistent: true, fast: true });
  ctx.sys = await startSystem({ pgUrl: ctx.pg.url });
});
test.after(async (ctx) => {
  await ctx.sys?.close();
  await ctx.pg.stop();
  rmSync(join(ctx.dataDir, ".."), { recursive: true, force: true });
});

test("services recover without a restart and no acknowledged write is lost", async (ctx) => {
  const { sys } = ctx;
  const owner = await sys.register();
  const course = (
    await sys.client(CourseService).createCourse({ course: courseInput({ capacity: 500 }) }, owner.auth)
  ).course!;
  const students: TestUser[] = [];
  for (let i = 0; i < 30; i++) students.push(await sys.register());
  const enrollment = sys.client(EnrollmentService);
  const acknowledged: string[] = [];
  const refused: string[] = [];
  let slowest = 0;
  const load = (async () => {
    for (const s of students) {
      const started = Date.now();
      try {
        await enrollment.enroll({ courseId: course.id }, s.auth);
        acknowledged.push(s.userId);
      } catch {
        refused.push(s.userId);
      }
      slowest = Math.max(slowest, Date.now() - started);
      // A steady stream, so that some calls land while the database is down.
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
  await new Promise((r) => setTimeout(r, 150));
  await ctx.pg.stop();
  // Long enough for the pools' reconnect attempts to back off (they are capped at 1 s).
  await new Promise((r) => setTimeout(r, 1500));
  ctx.pg = await startEmbeddedPostgres({
    dataDir: ctx.dataDir,
    port: ctx.pg.port,
    persistent: true,
    fast: true,
  });
  await load;
  // Calls made during the outage either failed cleanly or waited for the database and then completed.
  assert.ok(
    refused.length > 0 || slowest >= 400,
    `the outage was felt (refused ${refused.length}, slowest ${slowest} ms)`,
  );

  // Without restarting anything, calls succeed again; the refused students can enroll now.
  for (const s of students.filter((x) => refused.includes(x.userId))) {
    await sys.eventually(() => enrollment.enroll({ courseId: course.id }, s.auth), 20_000);
  }
  const listed = await enrollment.listStudents({ courseId: course.id, pageSize: 100 }, owner.auth);
  const enrolled = new Set(listed.enrollments.map((e) => e.student!.id));
  for (const id of acknowledged) assert.ok(enrolled.has(id), "every acknowledged enrollment survived");
  assert.is(enrolled.size, students.length);
  assert.is(
    (await sys.client(CourseService).getCourse({ courseId: course.id }, owner.auth)).course?.enrolledCount,
    students.length,
  );
  // Every service reports SERVING again by itself, within a few reconnect periods.
  await sys.eventually(async () => {
    const res = await fetch(`${sys.url}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(await res.json(), { status: "SERVING" });
  }, 10_000);
});

test.run();
