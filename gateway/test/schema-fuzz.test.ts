/**
 * Schema-driven fuzzing through the gateway: every public method gets well-typed requests
 * (binary protobuf or JSON) built from its own descriptor, with any subset of fields set,
 * missing or empty, ids drawn from real records (a course, its module, resource, task and
 * submission, a user) and from ids that name nothing, sent by the course's owner, a
 * student, an administrator or nobody. Whatever the mix, the answer is a success or a
 * client error: never INTERNAL. Malformed bytes are reliability.test.ts's; this reaches
 * the services' own code with messages that decode, which is where a forgotten `!` or an
 * unchecked optional field would fail.
 */
import {
  create,
  type DescField,
  type DescMessage,
  type DescService,
  type MessageInitShape,
  toBinary,
  toJsonString,
} from "@bufbuild/protobuf";
import {
  AssessmentKind,
  LatePolicy,
  QuestionKind,
} from "@classconnect/gen/classconnect/courses/v1/assessment_pb.js";
import { AssessmentService } from "@classconnect/gen/classconnect/courses/v1/assessment_service_pb.js";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { ModuleService, ResourceKind } from "@classconnect/gen/classconnect/courses/v1/module_service_pb.js";
import { SubmissionService } from "@classconnect/gen/classconnect/courses/v1/submission_service_pb.js";
import { TEST_PNG } from "@classconnect/platform/testing";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { routeTable } from "../src/index.js";
import { at, courseInput, DAY, type System, startSystem } from "./system.js";

const test = suite<{ sys: System }>("reliability: schema-driven requests to every public method");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

const serverFaults = new Set(["internal", "unknown", "data_loss"]);
/**
 * A reference to a record of the current world, filled in when the request is sent
 * (the etag: the course's at that moment).
 */
type Ref =
  | "course"
  | "module"
  | "resource"
  | "task"
  | "submission"
  | "bystander"
  | "ownerEmail"
  | "studentEmail";
const REF = "\u0001";
const ref = (name: Ref | "etag") => `${REF}${name}`;
const NOWHERE = "6f1c7d0e-8a5b-4c2d-9e3f-0a1b2c3d4e5f";
/** The records a field of this name means (`course_id`, `module_ids`…), mostly drawn from. */
const refsByName: Record<string, Ref> = {
  course_id: "course",
  module_id: "module",
  resource_id: "resource",
  assessment_id: "task",
  submission_id: "submission",
  user_id: "bystander",
};
/** Any id: of every kind of record, one that names nothing, malformed ones. */
const anyId = fc.constantFrom(
  ...(["course", "module", "resource", "task", "submission", "bystander"] as const).map(ref),
  "q1",
  NOWHERE,
  "",
  "not-a-uuid",
);

/** What a field mask in `message` names: its own fields and those of the messages it holds. */
function maskPaths(message: DescMessage): string[] {
  const nested = message.fields.flatMap((f) =>
    f.message && !f.message.typeName.startsWith("google.protobuf.")
      ? f.message.fields.map((g) => g.name)
      : [],
  );
  return [...message.fields.map((f) => f.name), ...nested, "bogus"];
}

function stringValue(field: DescField): fc.Arbitrary<string> {
  const name = field.name;
  if (name === "id" || name.endsWith("_id") || name.endsWith("_ids")) {
    const real = refsByName[name.replace(/_ids$/, "_id")];
    if (name === "question_id") return fc.constantFrom("q1", "q1", "q2", "");
    return real ? fc.oneof({ arbitrary: fc.constant(ref(real)), weight: 4 }, anyId) : anyId;
  }
  if (name === "etag") return fc.constantFrom(ref("etag"), ref("etag"), "", "stale");
  if (name.includes("email")) {
    return fc.constantFrom(ref("ownerEmail"), ref("studentEmail"), "nobody@example.com", "not an email", "");
  }
  if (name.includes("url")) return fc.constantFrom("https://example.com/a", "javascript:alert(1)", "", "x");
  return fc.oneof(
    fc.constant(""),
    fc.string({ maxLength: 24 }),
    fc.constantFrom("title", "start_time", "seats_left desc", "math", "Distributed Systems", "a@b.co"),
  );
}

/** A value for one field (not a list or map entry's container), or a message init. */
function fieldValue(field: DescField, depth: number, paths: string[]): fc.Arbitrary<unknown> {
  if (field.enum) {
    const numbers = field.enum.values.map((v) => v.number);
    return fc.constantFrom(...numbers, Math.max(...numbers) + 1);
  }
  if (field.message?.typeName === "google.protobuf.FieldMask") {
    return fc.record({ paths: fc.uniqueArray(fc.constantFrom(...paths), { maxLength: 3 }) });
  }
  if (field.message) return messageOf(field.message, depth - 1);
  switch (field.scalar) {
    case 9: // string
      return stringValue(field);
    case 8: // bool
      return fc.boolean();
    case 12: // bytes
      return fc.oneof(fc.constant(TEST_PNG), fc.uint8Array({ maxLength: 24 }));
    case 1: // double
    case 2: // float
      return fc.oneof(fc.integer({ min: -5, max: 120 }), fc.double());
    case 3: // int64
    case 16: // sfixed64
    case 18: // sint64
      return fc.oneof(fc.bigInt({ min: 0n, max: 5_000_000_000n }), fc.constant(-1n));
    case 4: // uint64
    case 6: // fixed64
      return fc.bigInt({ min: 0n, max: 5_000_000_000n });
    case 13: // uint32
    case 7: // fixed32
      return fc.oneof(fc.integer({ min: 0, max: 120 }), fc.constant(2 ** 32 - 1));
    default: // signed 32-bit integers
      return fc.oneof(fc.integer({ min: -5, max: 120 }), fc.constantFrom(2 ** 31 - 1, -(2 ** 31)));
  }
}

function messageOf(message: DescMessage, depth: number): fc.Arbitrary<object> {
  if (message.typeName === "google.protobuf.Timestamp") {
    const now = BigInt(Math.floor(Date.now() / 1000));
    return fc
      .oneof(fc.bigInt({ min: now - 90n * 86_400n, max: now + 90n * 86_400n }), fc.constantFrom(0n, -1n))
      .map((seconds) => ({ seconds, nanos: 0 }));
  }
  if (message.typeName === "google.protobuf.Duration") {
    return fc.record({ seconds: fc.bigInt({ min: -1n, max: 120n }), nanos: fc.constant(0) });
  }
  if (depth < 0) return fc.constant({});
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  const paths = maskPaths(message);
  for (const field of message.fields) {
    if (field.oneof) continue;
    if (field.fieldKind === "list") {
      model[field.localName] = fc.array(fieldValue(field, depth, paths), { maxLength: 3 });
    } else if (field.fieldKind === "map") {
      if (field.mapKind === "scalar" || field.mapKind === "enum") {
        model[field.localName] = fc.dictionary(fc.string({ maxLength: 8 }), fieldValue(field, depth, paths), {
          maxKeys: 2,
        });
      }
    } else {
      model[field.localName] = fieldValue(field, depth, paths);
    }
  }
  for (const oneof of message.oneofs) {
    model[oneof.localName] = fc.oneof(
      fc.constant({ case: undefined }),
      ...oneof.fields.map((f) => fieldValue(f, depth, paths).map((value) => ({ case: f.localName, value }))),
    );
  }
  return fc.record(model, { requiredKeys: [] });
}

/** One Connect streaming envelope: flags, big-endian length, message. */
function envelope(flags: number, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** The end-of-stream message (flag 0x02) of a Connect streaming answer. */
function endOfStream(body: Uint8Array): { error?: { code?: string; message?: string } } {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  for (let at = 0; at + 5 <= body.length; at += 5 + view.getUint32(at + 1)) {
    if (body[at]! & 0x02) {
      return JSON.parse(new TextDecoder().decode(body.subarray(at + 5, at + 5 + view.getUint32(at + 1))));
    }
  }
  throw new Error("the stream has no end-of-stream message");
}

/**
 * The records the requests name: a course of `owner`'s with `student` enrolled, a module
 * with a link, a published task `student` has handed in. Requests delete and change them, so the property builds a new one
 * every WORLD_RUNS runs rather than let most requests find nothing.
 */
async function newWorld(sys: System) {
  const owner = await sys.register();
  const student = await sys.register();
  // Administrators' calls name this user (block, role): the callers themselves stay usable.
  const bystander = await sys.register();
  const course = (await sys.client(CourseService).createCourse({ course: courseInput() }, owner.auth))
    .course!;
  await sys.client(EnrollmentService).enroll({ courseId: course.id }, student.auth);
  const modules = sys.client(ModuleService);
  const module = (await modules.createModule({ courseId: course.id, title: "Week 1" }, owner.auth)).module!;
  const resource = (
    await modules.addResource(
      { moduleId: module.id, title: "Raft", kind: ResourceKind.LINK, url: "https://raft.github.io/" },
      owner.auth,
    )
  ).resource!;
  const assessments = sys.client(AssessmentService);
  const task = (
    await assessments.createAssessment(
      {
        courseId: course.id,
        assessment: {
          kind: AssessmentKind.TASK,
          title: "Essay",
          dueTime: at(20 * DAY),
          latePolicy: LatePolicy.REJECT,
          passingScore: 1,
          questions: [{ id: "q1", kind: QuestionKind.FREE_TEXT, prompt: "Explain Raft", points: 5 }],
        },
      },
      owner.auth,
    )
  ).assessment!;
  await assessments.publishAssessment({ assessmentId: task.id }, owner.auth);
  const submission = (
    await sys
      .client(SubmissionService)
      .submitAssessment(
        { assessmentId: task.id, answers: [{ questionId: "q1", text: "Leaders." }] },
        student.auth,
      )
  ).submission!;
  const ids: Record<Ref, string> = {
    submission: submission.id,
    course: course.id,
    module: module.id,
    resource: resource.id,
    task: task.id,
    bystander: bystander.userId,
    ownerEmail: owner.email,
    studentEmail: student.email,
  };
  return { owner, student, course, ids };
}
const WORLD_RUNS = 200;

test("every public method answers success or a client error, whatever fields a request sets", async ({
  sys,
}) => {
  const admin = await sys.adminAuth();
  let world = await newWorld(sys);
  const methods = routeTable.flatMap(({ service }: { service: DescService }) =>
    service.methods.map((method) => ({
      path: `/${service.typeName}/${method.name}`,
      input: method.input,
      streaming: method.methodKind === "server_streaming",
    })),
  );
  const request = fc
    .record({
      method: fc.nat(methods.length - 1),
      caller: fc.constantFrom("owner", "owner", "student", "admin", "nobody"),
      json: fc.boolean(),
    })
    .chain(({ method, caller, json }) =>
      messageOf(methods[method]!.input, 3).map((init) => ({ ...methods[method]!, caller, json, init })),
    );

  const courses = sys.client(CourseService);
  /** `init` with its references to the world (and the course's etag of the moment) filled in. */
  const fill = async (init: unknown): Promise<unknown> => {
    if (init === ref("etag")) {
      const now = await courses
        .getCourse({ courseId: world.course.id }, world.owner.auth)
        .catch(() => undefined);
      return now?.course?.etag ?? "stale";
    }
    if (typeof init === "string" && init.startsWith(REF)) return world.ids[init.slice(REF.length) as Ref];
    if (Array.isArray(init)) return Promise.all(init.map(fill));
    if (init && typeof init === "object" && !(init instanceof Uint8Array)) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(init)) out[k] = await fill(v);
      return out;
    }
    return init;
  };

  const seen = new Map<string, number>();
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(request, async ({ path, input, streaming, caller, json, init }) => {
      if (++runs % WORLD_RUNS === 0) world = await newWorld(sys);
      const auth = { owner: world.owner.auth, student: world.student.auth, admin, nobody: undefined }[caller];
      // Binary goes through the gateway as it is; JSON is read and written again as binary there.
      const message = create(input, (await fill(init)) as MessageInitShape<typeof input>);
      const bytes = json ? new TextEncoder().encode(toJsonString(input, message)) : toBinary(input, message);
      const encoding = json ? "json" : "proto";
      const res = await fetch(`${sys.url}${path}`, {
        method: "POST",
        headers: {
          "content-type": streaming ? `application/connect+${encoding}` : `application/${encoding}`,
          ...auth?.headers,
        },
        body: streaming ? envelope(0, bytes) : bytes,
      });
      const body = new Uint8Array(await res.arrayBuffer());
      const answer: { code?: string; message?: string } = !res.ok
        ? JSON.parse(new TextDecoder().decode(body))
        : streaming
          ? (endOfStream(body).error ?? { code: "ok" })
          : { code: "ok" };
      seen.set(`${answer.code}`, (seen.get(`${answer.code}`) ?? 0) + 1);
      if (res.status >= 500 || serverFaults.has(`${answer.code}`)) {
        assert.unreachable(
          `${path} (${encoding}) by ${caller}: ${res.status} ${answer.code}: ${answer.message}`,
        );
      }
    }),
    // No shrinking: the requests change the records, so a replay would not see the same world.
    { numRuns: 4000, seed: 20261126, endOnFailure: true, includeErrorInReport: true },
  );
  // The requests reached the services' code, not only their validation.
  for (const code of ["ok", "invalid_argument", "not_found", "permission_denied", "unauthenticated"]) {
    assert.ok((seen.get(code) ?? 0) > 0, `some answers are ${code}: ${[...seen].join(", ")}`);
  }
});

test.run();
