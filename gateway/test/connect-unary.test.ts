/**
 * The gateway's lean Connect unary path (connect-unary.ts) against
 * connect-node's: the same request sent with a gzip-compressed body takes
 * connect-node's path (the lean one serves only uncompressed requests), and
 * both must answer alike: status, error code, message and details, body.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { brotliCompressSync, gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import { base64Encode } from "@bufbuild/protobuf/wire";
import {
  CourseInputSchema,
  CourseService,
  GetCourseRequestSchema,
  GetCourseResponseSchema,
} from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { ModuleService } from "@classconnect/gen/classconnect/courses/v1/module_service_pb.js";
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "@classconnect/gen/grpc/health/v1/health_pb.js";
import { EncodedMessage } from "@classconnect/platform";
import { createContextValues } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createConnectUnaryHandler } from "../src/connect-unary.js";
import { courseInput, type System, startSystem, type TestUser } from "./system.js";

const test = suite<{ sys: System; teacher: TestUser; courseId: string }>("gateway: lean Connect unary path");
test.before(async (ctx) => {
  ctx.sys = await startSystem({ gateway: { MAX_REQUEST_BYTES: String(64 * 1024) } });
  ctx.teacher = await ctx.sys.register();
  const created = await ctx.sys
    .client(CourseService)
    .createCourse({ course: courseInput({ title: "Lean path" }) }, ctx.teacher.auth);
  ctx.courseId = created.course!.id;
  // Enough courses for a ListCourses answer above the 1 KiB compression threshold.
  for (let i = 0; i < 4; i++) {
    await ctx.sys
      .client(CourseService)
      .createCourse({ course: courseInput({ title: `Course ${i}` }) }, ctx.teacher.auth);
  }
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP/1.1 request, the answer undecoded (node:http does not decompress). */
function request(
  sys: System,
  method: "GET" | "POST",
  path: string,
  body: Uint8Array | undefined,
  headers: Record<string, string>,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${sys.url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** POSTs `body` both ways: uncompressed (lean path) and gzip-compressed (connect-node). */
async function both(sys: System, method: string, body: Uint8Array, headers: Record<string, string>) {
  const path = `/classconnect.courses.v1.CourseService/${method}`;
  const lean = await request(sys, "POST", path, body, headers);
  const node = await request(sys, "POST", path, gzipSync(body), { ...headers, "content-encoding": "gzip" });
  return { lean, node };
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
/** The body, decompressed if the answer says so (connect-node answers a gzip request in gzip). */
const decoded = (a: Answer) => (a.headers["content-encoding"] === "gzip" ? gunzipSync(a.body) : a.body);
const parsed = (a: Answer) => JSON.parse(decoded(a).toString()) as Record<string, unknown>;
const jsonHeaders = (user?: TestUser) => ({
  "content-type": "application/json",
  ...(user ? { authorization: user.auth.headers["authorization"]! } : {}),
});

test("a JSON call answers as connect-node does", async ({ sys, teacher, courseId }) => {
  const { lean, node } = await both(sys, "GetCourse", json({ courseId }), jsonHeaders(teacher));
  assert.is(lean.status, 200);
  assert.is(lean.headers["content-type"], "application/json");
  assert.is(Number(lean.headers["content-length"]), lean.body.length);
  assert.equal(parsed(lean), parsed(node));
  assert.is((parsed(lean)["course"] as { title: string }).title, "Lean path");
  // A key the message does not have is refused on both paths, by name (a misspelt field
  // is not read as an empty one).
  const unknown = await both(sys, "GetCourse", json({ courseId, unknownField: 1 }), jsonHeaders(teacher));
  assert.is(unknown.lean.status, 400);
  assert.is(parsed(unknown.lean)["code"], "invalid_argument");
  assert.match(String(parsed(unknown.lean)["message"]), /key "unknownField" is unknown/);
  assert.equal(parsed(unknown.lean), parsed(unknown.node));
});

test("a binary call answers as connect-node does", async ({ sys, teacher, courseId }) => {
  const body = toBinary(GetCourseRequestSchema, create(GetCourseRequestSchema, { courseId }));
  const headers = {
    "content-type": "application/proto",
    authorization: teacher.auth.headers["authorization"]!,
  };
  const { lean, node } = await both(sys, "GetCourse", body, headers);
  assert.is(lean.status, 200);
  assert.is(lean.headers["content-type"], "application/proto");
  const course = fromBinary(GetCourseResponseSchema, lean.body).course!;
  assert.is(course.title, "Lean path");
  assert.equal(course, fromBinary(GetCourseResponseSchema, decoded(node)).course);
});

test("GET serves methods without side effects, in JSON and in base64 binary", async ({
  sys,
  teacher,
  courseId,
}) => {
  const path = "/classconnect.courses.v1.CourseService/GetCourse";
  const auth = { authorization: teacher.auth.headers["authorization"]! };
  const viaJson = await request(
    sys,
    "GET",
    `${path}?connect=v1&encoding=json&message=${encodeURIComponent(JSON.stringify({ courseId }))}`,
    undefined,
    auth,
  );
  assert.is(viaJson.status, 200);
  assert.is((parsed(viaJson)["course"] as { id: string }).id, courseId);
  // The answer is the caller's own (enrolled or not, with what grade): no cache may keep it.
  assert.is(viaJson.headers["cache-control"], "private, no-store");
  const misspelt = await request(
    sys,
    "GET",
    `${path}?connect=v1&encoding=json&message=${encodeURIComponent(JSON.stringify({ courseID: courseId }))}`,
    undefined,
    auth,
  );
  assert.is(misspelt.status, 400);
  assert.match(String(parsed(misspelt)["message"]), /key "courseID" is unknown/);
  const message = base64Encode(
    toBinary(GetCourseRequestSchema, create(GetCourseRequestSchema, { courseId })),
    "url",
  );
  const viaProto = await request(
    sys,
    "GET",
    `${path}?connect=v1&encoding=proto&base64=1&message=${message}`,
    undefined,
    auth,
  );
  assert.is(viaProto.status, 200);
  assert.is(fromBinary(GetCourseResponseSchema, viaProto.body).course!.id, courseId);
  // A method with side effects is POST only.
  const create_ = await request(
    sys,
    "GET",
    `/classconnect.courses.v1.CourseService/CreateCourse?connect=v1&encoding=json&message=%7B%7D`,
    undefined,
    auth,
  );
  assert.is(create_.status, 405);
  // A message that is not base64, or does not decompress, is bad input, never a server fault.
  const truncated = gzipSync(JSON.stringify({ courseId })).subarray(0, 12).toString("base64url");
  for (const query of [
    "encoding=proto&base64=1&message=!!!",
    "encoding=json&base64=1&compression=gzip&message=!!!",
    "encoding=json&base64=1&compression=gzip&message=eHg",
    `encoding=json&base64=1&compression=gzip&message=${truncated}`,
  ]) {
    const bad = await request(sys, "GET", `${path}?connect=v1&${query}`, undefined, auth);
    assert.equal([bad.status, parsed(bad)["code"]], [400, "invalid_argument"], query);
  }
  const zipped = gzipSync(JSON.stringify({ courseId })).toString("base64url");
  const viaGzip = await request(
    sys,
    "GET",
    `${path}?connect=v1&encoding=json&base64=1&compression=gzip&message=${zipped}`,
    undefined,
    auth,
  );
  assert.is((parsed(viaGzip)["course"] as { id: string }).id, courseId);
  assert.is(viaGzip.headers["cache-control"], "private, no-store");
});

test("refusals and bad input answer as connect-node does, and change nothing", async ({
  sys,
  teacher,
  courseId,
}) => {
  const cases: [string, Uint8Array, Record<string, string>, number, string][] = [
    ["GetCourse", json({ courseId }), jsonHeaders(), 401, "unauthenticated"],
    ["GetCourse", json({ courseId: "not-a-uuid" }), jsonHeaders(teacher), 400, "invalid_argument"],
    [
      "GetCourse",
      json({ courseId: "00000000-0000-4000-8000-000000000000" }),
      jsonHeaders(teacher),
      404,
      "not_found",
    ],
    ["GetCourse", new TextEncoder().encode("{not json"), jsonHeaders(teacher), 400, "invalid_argument"],
    ["CreateCourse", json({ course: { title: "" } }), jsonHeaders(teacher), 400, "invalid_argument"],
    // A whole, valid course but for one misspelt key deep inside: refused, not created without it.
    [
      "CreateCourse",
      json({
        course: {
          ...JSON.parse(
            toJsonString(CourseInputSchema, create(CourseInputSchema, courseInput({ title: "Misspelt" }))),
          ),
          pictureURL: "https://example.com/a.png",
        },
      }),
      jsonHeaders(teacher),
      400,
      "invalid_argument",
    ],
    [
      "GetCourse",
      json({ courseId }),
      { ...jsonHeaders(teacher), "connect-timeout-ms": "soon" },
      400,
      "invalid_argument",
    ],
  ];
  const before = await sys.client(CourseService).listMyCourses({}, teacher.auth);
  for (const [method, body, headers, status, code] of cases) {
    const { lean, node } = await both(sys, method, body, headers);
    const what = `${method} ${new TextDecoder().decode(body)} ${JSON.stringify(headers)}`;
    assert.is(lean.status, status, what);
    assert.is(parsed(lean)["code"], code, what);
    assert.is(lean.status, node.status, what);
    assert.equal(parsed(lean), parsed(node), what);
  }
  const after = await sys.client(CourseService).listMyCourses({}, teacher.auth);
  assert.is(after.courses.length, before.courses.length);
});

test("a service's 'try again later' reaches HTTP callers as 429 with Retry-After, on both paths", async ({
  sys,
}) => {
  // Registering sent an activation PIN; asking for another at once is too soon (a 60 s cooldown).
  const user = await sys.register({ verified: false });
  const path = "/classconnect.users.v1.AuthService/ResendVerificationPin";
  const lean = await request(sys, "POST", path, json({}), jsonHeaders(user));
  const node = await request(sys, "POST", path, gzipSync(json({})), {
    ...jsonHeaders(user),
    "content-encoding": "gzip",
  });
  for (const answer of [lean, node]) {
    assert.is(answer.status, 429);
    assert.is(parsed(answer)["code"], "resource_exhausted");
    const wait = Number(answer.headers["retry-after"]);
    assert.ok(
      Number.isInteger(wait) && wait >= 1 && wait <= 60,
      `retry-after: ${answer.headers["retry-after"]}`,
    );
  }
});

test("an unparsable binary body is the client's fault (400), not an internal error", async ({
  sys,
  teacher,
}) => {
  const headers = {
    "content-type": "application/proto",
    authorization: teacher.auth.headers["authorization"]!,
  };
  const { lean, node } = await both(sys, "GetCourse", new Uint8Array([0xff, 0xff, 0xff]), headers);
  assert.is(lean.status, 400);
  assert.is(parsed(lean)["code"], "invalid_argument");
  assert.is(node.status, 400);
  assert.equal(parsed(lean), parsed(node));
});

test("a body over MAX_REQUEST_BYTES is refused without reaching the service", async ({ sys, teacher }) => {
  const body = json({ course: { title: "x", description: "y".repeat(70 * 1024) } });
  const res = await request(
    sys,
    "POST",
    "/classconnect.courses.v1.CourseService/CreateCourse",
    body,
    jsonHeaders(teacher),
  );
  assert.is(res.status, 429);
  assert.is(parsed(res)["code"], "resource_exhausted");
  const mine = await sys.client(CourseService).listMyCourses({}, teacher.auth);
  assert.not.ok(mine.courses.some((c) => c.description.startsWith("yyy")));
});

test("answers from 1 KiB are compressed when the client accepts it", async ({ sys, teacher }) => {
  const body = json({ pageSize: 5, includeClosed: true });
  const path = "/classconnect.courses.v1.CourseService/ListCourses";
  const plain = await request(sys, "POST", path, body, jsonHeaders(teacher));
  assert.ok(plain.body.length >= 1024, `answer of ${plain.body.length} bytes`);
  assert.is(plain.headers["content-encoding"], undefined);
  const gzip = await request(sys, "POST", path, body, { ...jsonHeaders(teacher), "accept-encoding": "gzip" });
  assert.is(gzip.headers["content-encoding"], "gzip");
  assert.ok(gzip.body.length < plain.body.length);
  assert.equal(parsed(gzip), parsed(plain));
  // A small answer is not worth compressing.
  const small = await request(
    sys,
    "POST",
    "/classconnect.courses.v1.CourseService/GetCourse",
    json({ courseId: "00000000-0000-4000-8000-000000000000" }),
    { ...jsonHeaders(teacher), "accept-encoding": "gzip" },
  );
  assert.is(small.headers["content-encoding"], undefined);
});

test("a compressed body that does not decompress is the caller's bad input, not a server fault", async ({
  sys,
  teacher,
}) => {
  const path = "/classconnect.courses.v1.CourseService/ListCourses";
  const whole = json({ pageSize: 5 });
  for (const [encoding, body] of [
    ["gzip", gzipSync(whole).subarray(0, 12)], // cut short
    ["br", brotliCompressSync(whole).subarray(0, 3)],
    ["gzip", Buffer.from("not gzip at all")],
    ["br", Buffer.from("xx")],
  ] as const) {
    const res = await request(sys, "POST", path, body, {
      ...jsonHeaders(teacher),
      "content-encoding": encoding,
    });
    assert.equal(
      [res.status, parsed(res)["code"]],
      [400, "invalid_argument"],
      `${encoding} ${body.toString("hex")}`,
    );
  }
  const ok = await request(sys, "POST", path, brotliCompressSync(whole), {
    ...jsonHeaders(teacher),
    "content-encoding": "br",
  });
  assert.is(ok.status, 200);
});

test.run();

const large = suite<{ sys: System; teacher: TestUser; moduleId: string }>(
  "gateway: lean path, messages over the forwarding limit (1 MiB)",
);
large.before(async (ctx) => {
  ctx.sys = await startSystem();
  ctx.teacher = await ctx.sys.register();
  const course = (
    await ctx.sys.client(CourseService).createCourse({ course: courseInput() }, ctx.teacher.auth)
  ).course!;
  ctx.moduleId = (
    await ctx.sys
      .client(ModuleService)
      .createModule({ courseId: course.id, title: "Week 1" }, ctx.teacher.auth)
  ).module!.id;
});
large.after(async (ctx) => {
  await ctx.sys?.close();
});

large(
  "a file upload in JSON over 1 MiB is decoded at the edge and stored whole; one over 10 MB is refused by its rule",
  async ({ sys, teacher, moduleId }) => {
    const path = "/classconnect.courses.v1.ModuleService/AddResource";
    const content = Buffer.alloc(3 * 1024 * 1024, "course notes\n");
    const upload = (bytes: Buffer) =>
      json({
        moduleId,
        title: "Notes",
        kind: "RESOURCE_KIND_FILE",
        fileName: "notes.txt",
        content: bytes.toString("base64"),
      });
    const body = upload(content);
    assert.ok(body.length > 4 * 1024 * 1024, `${body.length} bytes of JSON`);
    const res = await request(sys, "POST", path, body, jsonHeaders(teacher));
    assert.is(res.status, 200, res.body.toString().slice(0, 200));
    const resource = parsed(res)["resource"] as { sizeBytes: string; url: string };
    assert.is(resource.sizeBytes, String(content.length));
    const served = await fetch(resource.url);
    assert.ok(Buffer.from(await served.arrayBuffer()).equals(content));
    // 10 MB + 1 as base64 JSON is about 14 MB: within the gateway's 16 MiB, over the services'
    // 12 MiB, so only a message re-encoded in binary reaches the rule that refuses it.
    const huge = await request(
      sys,
      "POST",
      path,
      upload(Buffer.alloc(10 * 1024 * 1024 + 1)),
      jsonHeaders(teacher),
    );
    assert.is(huge.status, 400);
    assert.is(parsed(huge)["code"], "invalid_argument");
    assert.match(JSON.stringify(parsed(huge)), "content");
  },
);

large.run();

const unit = suite("gateway: which requests take the lean path");

unit("uncompressed unary Connect calls are served; everything else goes to the fallback", async () => {
  let fallbacks = 0;
  /** What the route was given: the message as it came, or decoded (a message over forwardMaxBytes). */
  const received: unknown[] = [];
  const statusFor = (service: string) =>
    service === "" ? ServingStatus.SERVING : ServingStatus.SERVICE_UNKNOWN;
  const handler = createConnectUnaryHandler({
    routes: [
      {
        service: Health,
        method: Health.method.check,
        // As the gateway's upstream call does: a message forwarded as it came is answered in its encoding.
        call: async (req) => {
          const message: unknown = req.message;
          received.push(message);
          if (!(message instanceof EncodedMessage)) {
            return create(HealthCheckResponseSchema, {
              status: statusFor((message as { service: string }).service),
            });
          }
          const answer = create(HealthCheckResponseSchema, {
            status: statusFor(
              message.encoding === "json"
                ? fromJsonString(HealthCheckRequestSchema, new TextDecoder().decode(message.bytes)).service
                : fromBinary(HealthCheckRequestSchema, message.bytes).service,
            ),
          });
          return new EncodedMessage(
            message.encoding,
            message.encoding === "json"
              ? new TextEncoder().encode(toJsonString(HealthCheckResponseSchema, answer))
              : toBinary(HealthCheckResponseSchema, answer),
          );
        },
      },
    ],
    interceptors: [],
    readMaxBytes: 1024,
    forwardMaxBytes: 32,
    contextValues: () => createContextValues(),
    fallback: (_req, res) => {
      fallbacks++;
      res.writeHead(418);
      res.end();
    },
  });
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/grpc.health.v1.Health`;
  try {
    const post = (body: string | Uint8Array, headers: Record<string, string>, path = "/Check") =>
      fetch(`${base}${path}`, { method: "POST", headers, body });
    const served = await post("{}", { "content-type": "application/json" });
    assert.is(served.status, 200);
    assert.equal(await served.json(), { status: "SERVING" });
    const get = await fetch(
      `${base}/Check?connect=v1&encoding=json&message=${encodeURIComponent('{"service":"x"}')}`,
    );
    assert.equal(await get.json(), { status: "SERVICE_UNKNOWN" });
    const binary = await post(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, {})), {
      "content-type": "application/proto",
    });
    assert.is(
      fromBinary(HealthCheckResponseSchema, new Uint8Array(await binary.arrayBuffer())).status,
      ServingStatus.SERVING,
    );
    // Forwarded as they came: the JSON bytes and the binary ones, untouched.
    assert.equal(
      received.map((m) => m instanceof EncodedMessage && [m.encoding, new TextDecoder().decode(m.bytes)]),
      [
        ["json", "{}"],
        ["json", '{"service":"x"}'],
        ["proto", ""],
      ],
    );
    // A message over forwardMaxBytes is decoded at the edge, and its answer encoded there.
    const long = "y".repeat(40);
    const decoded = await post(JSON.stringify({ service: long }), { "content-type": "application/json" });
    assert.equal(await decoded.json(), { status: "SERVICE_UNKNOWN" });
    assert.is((received[3] as { service: string }).service, long);
    const unparsable = await post(`{"service":"${long}`, { "content-type": "application/json" });
    assert.is(unparsable.status, 400);
    assert.is(received.length, 4);
    assert.is(fallbacks, 0);
    const elsewhere = [
      await post(gzipSync("{}"), { "content-type": "application/json", "content-encoding": "gzip" }),
      await post("{}", { "content-type": "application/connect+json" }),
      await post("{}", { "content-type": "application/grpc" }),
      await post("{}", { "content-type": "text/plain" }),
      await post("{}", { "content-type": "application/json" }, "/Watch"),
      await fetch(`${base}/Check?connect=v1&encoding=json&compression=gzip&message=x`),
    ];
    assert.equal(
      elsewhere.map((r) => r.status),
      elsewhere.map(() => 418),
    );
    assert.is(fallbacks, elsewhere.length);
  } finally {
    server.close();
  }
});

unit(
  "an interceptor's response headers and trailers reach the caller, trailers as Connect's trailer- headers",
  async () => {
    const handler = createConnectUnaryHandler({
      routes: [
        {
          service: Health,
          method: Health.method.check,
          call: async () => create(HealthCheckResponseSchema, { status: ServingStatus.SERVING }),
        },
      ],
      interceptors: [
        (next) => async (req) => {
          const res = await next(req);
          res.header.set("x-answer", "header");
          res.trailer.append("x-done", "one");
          res.trailer.append("x-done", "two");
          return res;
        },
      ],
      readMaxBytes: 1024,
      contextValues: () => createContextValues(),
      fallback: (_req, res) => {
        res.writeHead(418);
        res.end();
      },
    });
    const server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/grpc.health.v1.Health/Check`;
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      assert.is(res.status, 200);
      assert.is(res.headers.get("x-answer"), "header");
      assert.is(res.headers.get("trailer-x-done"), "one, two");
      assert.is(res.headers.get("content-type"), "application/json");
      assert.equal(await res.json(), { status: "SERVING" });
    } finally {
      server.close();
    }
  },
);

unit.run();
