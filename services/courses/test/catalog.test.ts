import { randomUUID } from "node:crypto";
import { type System, startSystem, type TestUser } from "@classconnect/gateway/testing";
import { CourseLevel, Modality } from "@classconnect/gen/classconnect/courses/v1/course_pb.js";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { Code } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { at, courseInput, DAY, invalid, rejects } from "./fixtures.js";

const test = suite<{ sys: System; owner: TestUser; viewer: TestUser; tag: string }>("courses: catalog");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
  ctx.owner = await ctx.sys.register();
  ctx.viewer = await ctx.sys.register();
  ctx.tag = `tag${randomUUID().slice(0, 6)}`;
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

test("filters by keyword, category, level, modality and start dates; closed courses only on request", async (ctx) => {
  const { sys, owner, viewer, tag } = ctx;
  const courses = sys.client(CourseService);
  const make = (title: string, extra: Parameters<typeof courseInput>[0] = {}) =>
    courses.createCourse(
      { course: courseInput({ title, category: tag, description: `About ${title}`, ...extra }) },
      owner.auth,
    );
  await make("Quantum Mechanics", { level: CourseLevel.ADVANCED });
  await make("Classical Mechanics", {
    modality: Modality.ON_SITE,
    startTime: at(40 * DAY),
    enrollmentDeadline: at(30 * DAY),
  });
  await make("Organic Chemistry");
  await make("Closed Course", {
    enrollmentDeadline: at(-1 * DAY),
    startTime: at(-2 * DAY),
    endTime: at(30 * DAY),
  });
  const list = async (req: Parameters<typeof courses.listCourses>[0]) =>
    (await courses.listCourses({ category: tag, ...req }, viewer.auth)).courses.map((c) => c.title);

  assert.equal(await list({}), ["Quantum Mechanics", "Organic Chemistry", "Classical Mechanics"]);
  assert.equal(await list({ keyword: "mechanics" }), ["Quantum Mechanics", "Classical Mechanics"]);
  assert.equal(await list({ keyword: "about organic" }), ["Organic Chemistry"]);
  assert.equal(await list({ level: CourseLevel.ADVANCED }), ["Quantum Mechanics"]);
  assert.equal(await list({ modality: Modality.ON_SITE }), ["Classical Mechanics"]);
  assert.equal(await list({ startAfter: at(20 * DAY) }), ["Classical Mechanics"]);
  assert.equal(await list({ startBefore: at(20 * DAY) }), ["Quantum Mechanics", "Organic Chemistry"]);
  assert.equal((await list({ includeClosed: true })).length, 4);
  assert.equal(await list({ orderBy: "title" }), [
    "Classical Mechanics",
    "Organic Chemistry",
    "Quantum Mechanics",
  ]);
  assert.equal(await list({ orderBy: "create_time desc" }), [
    "Organic Chemistry",
    "Classical Mechanics",
    "Quantum Mechanics",
  ]);
  assert.equal(await list({ keyword: "nothing-matches-this" }), []);
  // As typed into a search box: whole words, the last one possibly unfinished, any case;
  // symbols are not query syntax.
  assert.equal(await list({ keyword: "MECH" }), ["Quantum Mechanics", "Classical Mechanics"]);
  assert.equal(await list({ keyword: "quantum mech" }), ["Quantum Mechanics"]);
  assert.equal(await list({ keyword: "quant mechanics" }), []);
  assert.equal(await list({ keyword: "chemistry | quant" }), []);
  assert.equal(await list({ keyword: "echanics" }), []);
  assert.equal(await list({ keyword: "%" }), []);
  assert.equal(await list({ keyword: "'organic':* | !" }), ["Organic Chemistry"]);
});

test("each item tells seats left, whether the caller is enrolled, limited seats and closing soon", async (ctx) => {
  const { sys, owner, viewer, tag } = ctx;
  const courses = sys.client(CourseService);
  const small = (
    await courses.createCourse(
      {
        course: courseInput({
          title: "Small Seminar",
          category: `${tag}x`,
          capacity: 3,
          enrollmentDeadline: at(1 * DAY),
        }),
      },
      owner.auth,
    )
  ).course!;
  const big = (
    await courses.createCourse(
      { course: courseInput({ title: "Big Lecture", category: `${tag}x`, capacity: 500 }) },
      owner.auth,
    )
  ).course!;
  await sys.client(EnrollmentService).enroll({ courseId: small.id }, viewer.auth);
  const items = (await courses.listCourses({ category: `${tag}x`, orderBy: "seats_left desc" }, viewer.auth))
    .courses;
  assert.equal(
    items.map((c) => [c.title, c.seatsLeft, c.callerEnrolled, c.limitedSeats, c.closingSoon]),
    [
      ["Big Lecture", 500, false, false, false],
      ["Small Seminar", 2, true, true, true],
    ],
  );
  assert.is(big.limitedSeats, false);
});

test("pages are stable while courses are added between them", async (ctx) => {
  const { sys, owner, viewer } = ctx;
  const courses = sys.client(CourseService);
  const category = `${ctx.tag}p`;
  const created: string[] = [];
  for (let i = 0; i < 7; i++) {
    const c = await courses.createCourse(
      { course: courseInput({ title: `Paged ${i}`, category, startTime: at((10 + i) * DAY) }) },
      owner.auth,
    );
    created.push(c.course!.id);
  }
  for (const orderBy of ["", "title", "create_time desc", "seats_left desc"]) {
    const seen: string[] = [];
    let pageToken = "";
    let round = 0;
    do {
      const page = await courses.listCourses({ category, orderBy, pageSize: 3, pageToken }, viewer.auth);
      seen.push(...page.courses.map((c) => c.id));
      pageToken = page.nextPageToken;
      // A course created mid-way starts before everything else: it must not shift later pages.
      if (round++ === 0) {
        await courses.createCourse(
          {
            course: courseInput({
              title: `Zz inserted ${orderBy}`,
              category: `${category}-other`,
              startTime: at(9 * DAY),
            }),
          },
          owner.auth,
        );
      }
    } while (pageToken);
    assert.equal([...seen].sort(), [...created].sort(), `order ${orderBy || "start_time"}`);
    assert.is(new Set(seen).size, seen.length, "no repeats");
  }
});

test("ListCourses refuses bad input and anonymous callers", async (ctx) => {
  const courses = ctx.sys.client(CourseService);
  await invalid(courses.listCourses({ orderBy: "price" }, ctx.viewer.auth), ["order_by"]);
  await invalid(courses.listCourses({ pageSize: 500 }, ctx.viewer.auth), ["page_size"]);
  await invalid(courses.listCourses({ level: 9 as CourseLevel }, ctx.viewer.auth), ["level"]);
  await invalid(courses.listCourses({ keyword: "k".repeat(201) }, ctx.viewer.auth), ["keyword"]);
  await invalid(
    courses.listCourses({ startAfter: at(10 * DAY), startBefore: at(5 * DAY) }, ctx.viewer.auth),
    ["start_before"],
  );
  await rejects(
    courses.listCourses({ pageToken: "bogus" }, ctx.viewer.auth),
    Code.InvalidArgument,
    "PAGE_TOKEN",
  );
  // A token keeps the order it was made for, and a forged key never reaches the database.
  const owner = ctx.owner.auth;
  for (let i = 0; i < 2; i++) {
    await courses.createCourse(
      { course: courseInput({ title: `Token ${i}`, category: `${ctx.tag}t` }) },
      owner,
    );
  }
  const byTitle = await courses.listCourses(
    { category: `${ctx.tag}t`, orderBy: "title", pageSize: 1 },
    owner,
  );
  const titles = async (req: Parameters<typeof courses.listCourses>[0]) =>
    (await courses.listCourses({ category: `${ctx.tag}t`, ...req }, owner)).courses.map((c) => c.title);
  assert.equal(await titles({ orderBy: "title", pageToken: byTitle.nextPageToken }), ["Token 1"]);
  await rejects(
    courses.listCourses({ orderBy: "start_time", pageToken: byTitle.nextPageToken }, owner),
    Code.InvalidArgument,
    "PAGE_TOKEN",
  );
  // A token is for the next page of the same query: the same filters, any page size.
  await rejects(
    courses.listCourses(
      { category: `${ctx.tag}t`, orderBy: "title", keyword: "token", pageToken: byTitle.nextPageToken },
      owner,
    ),
    Code.InvalidArgument,
    "PAGE_TOKEN",
  );
  // A real token of the start_time list with its key rewritten: read when the key is a time.
  const byStart = await courses.listCourses({ category: `${ctx.tag}t`, pageSize: 1 }, owner);
  const forged = (key: unknown) => {
    const token = JSON.parse(Buffer.from(byStart.nextPageToken, "base64url").toString());
    return Buffer.from(JSON.stringify({ ...token, key, id: randomUUID() })).toString("base64url");
  };
  assert.equal(await titles({ pageToken: forged(new Date(0).toISOString()) }), ["Token 0", "Token 1"]);
  for (const key of ["algebra", "2026-02-30T00:00:00.000Z", "0000-01-01T00:00:00.000Z", 7]) {
    await rejects(
      courses.listCourses({ category: `${ctx.tag}t`, pageToken: forged(key) }, owner),
      Code.InvalidArgument,
      "PAGE_TOKEN",
    );
  }
  await rejects(courses.listCourses({}), Code.Unauthenticated);
  await rejects(courses.listCourses({}, await ctx.sys.adminAuth()), Code.PermissionDenied);
});

test.run();
