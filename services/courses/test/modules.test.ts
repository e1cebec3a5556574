import { randomUUID } from "node:crypto";
import { type System, startSystem } from "@classconnect/gateway/testing";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { ModuleService, ResourceKind } from "@classconnect/gen/classconnect/courses/v1/module_service_pb.js";
import { Permission, StaffService } from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import { NotFoundError } from "@classconnect/platform";
import { connectErrorOf } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createModuleStore } from "../src/store/modules.js";
import { courseInput, invalid, rejects } from "./fixtures.js";

const test = suite<{ sys: System }>("courses: ModuleService");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

test("modules: create, edit, reorder in one step, delete; positions stay dense", async ({ sys }) => {
  const modules = sys.client(ModuleService);
  const owner = await sys.register();
  const editor = await sys.register();
  const grader = await sys.register();
  const student = await sys.register();
  const stranger = await sys.register();
  const c = (await sys.client(CourseService).createCourse({ course: courseInput() }, owner.auth)).course!;
  await sys
    .client(StaffService)
    .addAssistant({ courseId: c.id, userId: editor.userId, permissions: [Permission.CONTENT] }, owner.auth);
  await sys
    .client(StaffService)
    .addAssistant({ courseId: c.id, userId: grader.userId, permissions: [Permission.GRADING] }, owner.auth);
  await sys.client(EnrollmentService).enroll({ courseId: c.id }, student.auth);

  const ids: string[] = [];
  for (const title of ["Intro", "Clocks", "Consensus"]) {
    ids.push(
      (await modules.createModule({ courseId: c.id, title, description: `${title}!` }, owner.auth)).module!
        .id,
    );
  }
  const byEditor = await modules.createModule({ courseId: c.id, title: "Replication" }, editor.auth);
  assert.is(byEditor.module?.position, 3);
  ids.push(byEditor.module!.id);
  await rejects(
    modules.createModule({ courseId: c.id, title: "No" }, grader.auth),
    Code.PermissionDenied,
    "MISSING_PERMISSION",
  );
  await rejects(modules.createModule({ courseId: c.id, title: "No" }, student.auth), Code.PermissionDenied);
  await invalid(modules.createModule({ courseId: c.id, title: "" }, owner.auth), ["title"]);

  const updated = await modules.updateModule(
    { moduleId: ids[1]!, title: "Time and Clocks", description: "ignored", updateMask: { paths: ["title"] } },
    editor.auth,
  );
  assert.equal([updated.module?.title, updated.module?.description], ["Time and Clocks", "Clocks!"]);
  await invalid(
    modules.updateModule({ moduleId: ids[1]!, title: "", updateMask: { paths: ["title"] } }, owner.auth),
    ["title"],
  );
  await invalid(
    modules.updateModule({ moduleId: ids[1]!, updateMask: { paths: ["position"] } }, owner.auth),
    ["update_mask"],
  );
  // A sub-path passes protovalidate's field_mask.in; the update refuses it rather than change nothing.
  await invalid(
    modules.updateModule(
      { moduleId: ids[1]!, title: "Renamed", updateMask: { paths: ["title.x"] } },
      owner.auth,
    ),
    ["update_mask"],
  );
  await rejects(
    modules.updateModule(
      { moduleId: randomUUID(), title: "x", updateMask: { paths: ["title"] } },
      owner.auth,
    ),
    Code.NotFound,
  );

  const order = [ids[3]!, ids[0]!, ids[2]!, ids[1]!];
  const reordered = await modules.reorderModules({ courseId: c.id, moduleIds: order }, owner.auth);
  assert.equal(
    reordered.modules.map((m) => [m.id, m.position]),
    order.map((id, i) => [id, i]),
  );
  const partial = await rejects(
    modules.reorderModules({ courseId: c.id, moduleIds: order.slice(1) }, owner.auth),
    Code.InvalidArgument,
  );
  assert.is(partial.rawMessage, "module_ids: must list every module of the course exactly once");
  await invalid(
    modules.reorderModules({ courseId: c.id, moduleIds: [...order.slice(1), randomUUID()] }, owner.auth),
    ["module_ids"],
  );
  await invalid(modules.reorderModules({ courseId: c.id, moduleIds: [order[0]!, order[0]!] }, owner.auth), [
    "module_ids",
  ]);
  await rejects(
    modules.reorderModules({ courseId: c.id, moduleIds: order }, student.auth),
    Code.PermissionDenied,
  );

  await modules.deleteModule({ moduleId: ids[0]! }, owner.auth);
  const listed = await modules.listModules({ courseId: c.id }, student.auth);
  assert.equal(
    listed.modules.map((m) => [m.title, m.position]),
    [
      ["Replication", 0],
      ["Consensus", 1],
      ["Time and Clocks", 2],
    ],
  );
  await rejects(
    modules.listModules({ courseId: c.id }, stranger.auth),
    Code.PermissionDenied,
    "NOT_COURSE_MEMBER",
  );
  await rejects(modules.deleteModule({ moduleId: ids[0]! }, owner.auth), Code.NotFound);
  await rejects(modules.deleteModule({ moduleId: ids[2]! }, student.auth), Code.PermissionDenied);
  // What an assistant removes is named in the log, as what they added was: its id no longer says.
  const reading = (
    await modules.addResource(
      { moduleId: ids[3]!, title: "Reading", kind: ResourceKind.LINK, url: "https://example.com/r" },
      editor.auth,
    )
  ).resource!;
  await modules.removeResource({ resourceId: reading.id }, editor.auth);
  await modules.deleteModule({ moduleId: ids[3]! }, editor.auth);
  const log = await sys.client(StaffService).listActivity({ courseId: c.id }, owner.auth);
  assert.equal(log.entries.map((e) => [e.action, e.details]).sort(), [
    ["module.create", "Replication"],
    ["module.delete", "Replication"],
    ["module.update", "changed title"],
    ["resource.create", "Reading"],
    ["resource.delete", "Reading"],
  ]);
});

test("resources: links, videos and files up to 10 MB; edit, reorder, remove", async ({ sys }) => {
  const modules = sys.client(ModuleService);
  const owner = await sys.register();
  const student = await sys.register();
  const stranger = await sys.register();
  const c = (await sys.client(CourseService).createCourse({ course: courseInput() }, owner.auth)).course!;
  await sys.client(EnrollmentService).enroll({ courseId: c.id }, student.auth);
  const m = (await modules.createModule({ courseId: c.id, title: "Week 1" }, owner.auth)).module!;

  const link = (
    await modules.addResource(
      { moduleId: m.id, title: "Paper", kind: ResourceKind.LINK, url: "https://raft.github.io/raft.pdf" },
      owner.auth,
    )
  ).resource!;
  const video = (
    await modules.addResource(
      { moduleId: m.id, title: "Talk", kind: ResourceKind.VIDEO, url: "https://videos.example.com/raft" },
      owner.auth,
    )
  ).resource!;
  const content = Buffer.from("lecture notes\n".repeat(100));
  const file = (
    await modules.addResource(
      { moduleId: m.id, title: "Notes", kind: ResourceKind.FILE, content, fileName: "notes week 1.txt" },
      owner.auth,
    )
  ).resource!;
  assert.equal([link.position, video.position, file.position], [0, 1, 2]);
  assert.is(file.sizeBytes, BigInt(content.length));
  // A file is as private as the module it is in: its address alone reads nothing; a member
  // gets a short-lived link that does.
  const fileUrl = new URL(file.url);
  assert.match(fileUrl.pathname, /^\/blobs\/private\/modules\/[^/]+\/[^/]+\/notes_week_1\.txt$/);
  assert.ok(fileUrl.searchParams.has("signature"), file.url);
  const served = await fetch(fileUrl);
  assert.is(served.status, 200);
  assert.equal(
    [served.headers.get("content-type"), served.headers.get("x-content-type-options")],
    ["application/octet-stream", "nosniff"],
    "a text file is a download, never a page",
  );
  assert.ok(Buffer.from(await served.arrayBuffer()).equals(content));
  const bare = await fetch(new URL(fileUrl.pathname, fileUrl));
  assert.is(bare.status, 404);
  await bare.body?.cancel();
  const studentsLink = (await modules.listModules({ courseId: c.id }, student.auth)).modules[0]!.resources[2]!
    .url;
  assert.is(new URL(studentsLink).pathname, fileUrl.pathname);
  assert.ok(Buffer.from(await (await fetch(studentsLink)).arrayBuffer()).equals(content));
  await rejects(modules.listModules({ courseId: c.id }, stranger.auth), Code.PermissionDenied);
  // A PDF opens in the browser.
  const pdf = (
    await modules.addResource(
      {
        moduleId: m.id,
        title: "Slides",
        kind: ResourceKind.FILE,
        content: Buffer.from("%PDF-1.4\n%%EOF\n"),
        fileName: "Slides.pdf",
      },
      owner.auth,
    )
  ).resource!;
  const slides = await fetch(pdf.url);
  assert.equal([slides.status, slides.headers.get("content-type")], [200, "application/pdf"]);
  await slides.body?.cancel();
  await modules.removeResource({ resourceId: pdf.id }, owner.auth);

  await invalid(
    modules.addResource({ moduleId: m.id, title: "No url", kind: ResourceKind.LINK }, owner.auth),
    ["url"],
  );
  await invalid(
    modules.addResource(
      { moduleId: m.id, title: "No file", kind: ResourceKind.FILE, fileName: "x" },
      owner.auth,
    ),
    ["url"],
  );
  // A link with a file's parts, or a file with a link's, is refused rather than half kept.
  const mixed = [
    { kind: ResourceKind.LINK, url: "https://x.example", content: Buffer.from("x"), fileName: "x.txt" },
    { kind: ResourceKind.VIDEO, url: "https://x.example", fileName: "x.mp4" },
    { kind: ResourceKind.FILE, url: "https://x.example", content: Buffer.from("x"), fileName: "x.txt" },
  ];
  for (const r of mixed) {
    await invalid(modules.addResource({ moduleId: m.id, title: "Mixed", ...r }, owner.auth), ["url"]);
  }
  for (const url of ["not a url", "javascript:alert(document.cookie)", "data:text/html,<script>"]) {
    await invalid(
      modules.addResource({ moduleId: m.id, title: "Bad", kind: ResourceKind.LINK, url }, owner.auth),
      ["url"],
    );
  }
  await invalid(
    modules.addResource(
      { moduleId: m.id, title: "", kind: ResourceKind.LINK, url: "https://x.example" },
      owner.auth,
    ),
    ["title"],
  );
  await invalid(
    modules.addResource(
      { moduleId: m.id, title: "k", kind: ResourceKind.UNSPECIFIED, url: "https://x.example" },
      owner.auth,
    ),
    ["kind"],
  );
  // Without a kind, whether a url or a file is missing cannot be said: only the kind is named.
  await invalid(modules.addResource({ moduleId: m.id, title: "k" }, owner.auth), ["kind"]);
  await invalid(
    modules.addResource(
      {
        moduleId: m.id,
        title: "Huge",
        kind: ResourceKind.FILE,
        fileName: "big.bin",
        content: new Uint8Array(10 * 1024 * 1024 + 1),
      },
      owner.auth,
    ),
    ["content"],
  );
  await rejects(
    modules.addResource(
      { moduleId: m.id, title: "S", kind: ResourceKind.LINK, url: "https://x.example" },
      student.auth,
    ),
    Code.PermissionDenied,
  );

  const renamed = await modules.updateResource(
    {
      resourceId: link.id,
      title: "Raft paper",
      url: "https://raft.github.io/",
      updateMask: { paths: ["title", "url"] },
    },
    owner.auth,
  );
  assert.equal([renamed.resource?.title, renamed.resource?.url], ["Raft paper", "https://raft.github.io/"]);
  await rejects(
    modules.updateResource(
      { resourceId: file.id, url: "https://elsewhere.example/", updateMask: { paths: ["url"] } },
      owner.auth,
    ),
    Code.InvalidArgument,
    "FILE_URL_FIXED",
  );
  await invalid(
    modules.updateResource(
      { resourceId: link.id, url: "javascript:alert(1)", updateMask: { paths: ["url"] } },
      owner.auth,
    ),
    ["url"],
  );
  // A title or link cleared by an update is refused as it is at creation, and nothing changes.
  await invalid(
    modules.updateResource({ resourceId: link.id, updateMask: { paths: ["title"] } }, owner.auth),
    ["title"],
  );
  await invalid(modules.updateResource({ resourceId: link.id, updateMask: { paths: ["url"] } }, owner.auth), [
    "url",
  ]);
  const unchanged = (await modules.listModules({ courseId: c.id }, owner.auth)).modules[0]!.resources.find(
    (r) => r.id === link.id,
  );
  assert.equal([unchanged?.title, unchanged?.url], ["Raft paper", "https://raft.github.io/"]);
  const order = [file.id, link.id, video.id];
  const reordered = await modules.reorderResources({ moduleId: m.id, resourceIds: order }, owner.auth);
  assert.equal(
    reordered.resources.map((r) => r.id),
    order,
  );
  assert.is(new URL(reordered.resources[0]!.url).pathname, fileUrl.pathname, "a file keeps its link");
  const partial = await rejects(
    modules.reorderResources({ moduleId: m.id, resourceIds: [file.id] }, owner.auth),
    Code.InvalidArgument,
  );
  assert.is(partial.rawMessage, "resource_ids: must list every resource of the module exactly once");
  await modules.removeResource({ resourceId: link.id }, owner.auth);
  const gone = await rejects(modules.removeResource({ resourceId: link.id }, owner.auth), Code.NotFound);
  assert.is(gone.rawMessage, "resource not found");
  await rejects(modules.removeResource({ resourceId: file.id }, student.auth), Code.PermissionDenied);
  const listed = await modules.listModules({ courseId: c.id }, student.auth);
  assert.equal(
    listed.modules[0]?.resources.map((r) => [r.title, r.position]),
    [
      ["Notes", 0],
      ["Talk", 1],
    ],
  );
  // A removed file is deleted: the link given out before reads nothing.
  await modules.removeResource({ resourceId: file.id }, owner.auth);
  const removed = await fetch(studentsLink);
  assert.is(removed.status, 404);
  await removed.body?.cancel();
});

test("a module or resource deleted by another call meanwhile is NOT_FOUND, never INTERNAL", async ({
  sys,
}) => {
  // Deletes and edits check access, then write: a delete in between leaves nothing to write.
  const sql = postgres(sys.databases.courses, { max: 1, onnotice: () => {} });
  try {
    const store = createModuleStore(sql);
    for (const write of [
      () => store.remove(randomUUID()),
      () => store.update(randomUUID(), { title: "Renamed" }),
      () => store.update(randomUUID(), {}),
      () => store.removeResource(randomUUID()),
      () => store.updateResource(randomUUID(), { title: "Renamed" }),
    ]) {
      const err = await write().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.instance(err, NotFoundError);
    }
  } finally {
    await sql.end();
  }
  // Through the API: of deletes of one module at once, one deletes it and the rest are NOT_FOUND.
  const owner = await sys.register();
  const courseId = (await sys.client(CourseService).createCourse({ course: courseInput() }, owner.auth))
    .course!.id;
  const modules = sys.client(ModuleService);
  const m = (await modules.createModule({ courseId, title: "Twice", description: "" }, owner.auth)).module!;
  const outcomes = await Promise.allSettled(
    Array.from({ length: 6 }, () => modules.deleteModule({ moduleId: m.id }, owner.auth)),
  );
  assert.equal(
    outcomes.map((o) => (o.status === "fulfilled" ? "deleted" : connectErrorOf(o.reason).code)).sort(),
    ["deleted", ...Array(5).fill(Code.NotFound)].sort(),
  );
});

test.run();
