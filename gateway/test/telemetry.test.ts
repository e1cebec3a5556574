/**
 * One call through the gateway produces one trace spanning the gateway and the
 * services behind it, exported over OTLP/HTTP to a loopback receiver; the
 * Prometheus endpoint shows per-RPC counters; no personal data in spans.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { initTelemetry, type Telemetry } from "@classconnect/platform";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { courseInput, type System, startSystem } from "./system.js";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string } }[];
}

const test = suite<{ sys: System; telemetry: Telemetry; receiver: Server; bodies: string[] }>(
  "telemetry: traces and metrics",
);
test.before(async (ctx) => {
  ctx.bodies = [];
  ctx.receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      if (req.url === "/v1/traces") ctx.bodies.push(body);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => ctx.receiver.listen(0, "127.0.0.1", r));
  ctx.telemetry = await initTelemetry({
    serviceName: "classconnect-test",
    otlpEndpoint: `http://127.0.0.1:${(ctx.receiver.address() as AddressInfo).port}`,
    metricsPort: 0,
  });
  ctx.sys = await startSystem();
});
test.after(async (ctx) => {
  await ctx.sys?.close();
  await ctx.telemetry.shutdown();
  await new Promise<void>((r) => ctx.receiver.close(() => r()));
});

test("GetCourse: gateway → courses → users in one trace; counters on /metrics", async ({
  sys,
  telemetry,
  bodies,
}) => {
  const teacher = await sys.register({ firstName: "Tracy" });
  const course = (
    await sys
      .client(CourseService)
      .createCourse({ course: courseInput({ title: "Tracing", capacity: 5 }) }, teacher.auth)
  ).course!;
  await sys.client(CourseService).getCourse({ courseId: course.id }, teacher.auth);
  await telemetry.forceFlush();
  const spans: OtlpSpan[] = bodies.flatMap((b) =>
    (JSON.parse(b) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] }).resourceSpans.flatMap(
      (r) => r.scopeSpans.flatMap((s) => s.spans),
    ),
  );
  const component = (s: OtlpSpan) =>
    s.attributes.find((a) => a.key === "classconnect.component")?.value.stringValue;
  const root = spans.find(
    (s) =>
      s.name === "classconnect.courses.v1.CourseService/GetCourse" &&
      component(s) === "gateway" &&
      s.kind === 2,
  );
  assert.ok(root, "the gateway's server span");
  const trace = spans.filter((s) => s.traceId === root!.traceId);
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  const chainOf = (s: OtlpSpan): string[] => {
    const parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
    return [
      ...(parent ? chainOf(parent) : []),
      `${component(s)}:${s.kind === 2 ? "server" : "client"}:${s.name.split("/")[1]}`,
    ];
  };
  const usersSpan = trace.find((s) => component(s) === "users" && s.name.endsWith("/BatchGetProfiles"));
  assert.ok(usersSpan, "the users service's span is in the same trace");
  assert.equal(chainOf(usersSpan!), [
    "gateway:server:GetCourse",
    "gateway:client:GetCourse",
    "courses:server:GetCourse",
    "client:client:BatchGetProfiles",
    "users:server:BatchGetProfiles",
  ]);
  // Each query is a CLIENT span of the call that ran it, with its statement but not its
  // parameters, on pooled connections and in transactions (reserved connections) alike.
  const statement = (s: OtlpSpan) => s.attributes.find((a) => a.key === "db.statement")?.value.stringValue;
  const read = trace.find(
    (s) => s.name === "postgresql" && statement(s)?.includes("from courses c where c.id = ?"),
  );
  assert.ok(read, "GetCourse's query is a span of its trace");
  assert.is(read!.kind, 3);
  assert.equal(chainOf(read!).slice(0, 3), [
    "gateway:server:GetCourse",
    "gateway:client:GetCourse",
    "courses:server:GetCourse",
  ]);
  const insert = spans.find(
    (s) => s.name === "postgresql" && statement(s)?.startsWith("insert into courses ("),
  );
  assert.ok(insert, "CreateCourse's insert, run in a transaction, is a span too");
  assert.not.ok(
    spans.some(
      (s) =>
        s.name === "postgresql" && (statement(s)?.includes(course.id) || statement(s)?.includes("Tracing")),
    ),
    "no query parameters in spans",
  );
  assert.not.ok(
    bodies.some((b) => b.includes(teacher.email) || b.includes("Tracy")),
    "no personal data in spans",
  );

  const res = await fetch(`http://127.0.0.1:${telemetry.metricsPort}/metrics`);
  const text = await res.text();
  assert.match(text, /rpc_server_requests_total\{[^}]*method="GetCourse"[^}]*code="ok"[^}]*\} [1-9]/);
  assert.match(text, /rpc_server_duration_bucket\{[^}]*method="GetCourse"/);
});

test.run();

const metricsOnly = suite<{ sys: System; telemetry: Telemetry }>("telemetry: metrics without tracing");
metricsOnly.before(async (ctx) => {
  ctx.telemetry = await initTelemetry({ serviceName: "classconnect-test", metricsPort: 0 });
  ctx.sys = await startSystem();
});
metricsOnly.after(async (ctx) => {
  await ctx.sys?.close();
  await ctx.telemetry.shutdown();
});

metricsOnly("the RED metrics are kept, errors by code", async ({ sys, telemetry }) => {
  const teacher = await sys.register();
  const course = (
    await sys.client(CourseService).createCourse({ course: courseInput({ capacity: 5 }) }, teacher.auth)
  ).course!;
  await sys.client(CourseService).getCourse({ courseId: course.id }, teacher.auth);
  await sys
    .client(CourseService)
    .getCourse({ courseId: "00000000-0000-0000-0000-000000000000" }, teacher.auth)
    .then(
      () => assert.unreachable("an unknown course"),
      () => undefined,
    );
  const text = await (await fetch(`http://127.0.0.1:${telemetry.metricsPort}/metrics`)).text();
  assert.match(text, /rpc_server_requests_total\{[^}]*method="GetCourse"[^}]*code="ok"[^}]*\} [1-9]/);
  assert.match(text, /rpc_server_requests_total\{[^}]*method="GetCourse"[^}]*code="NotFound"[^}]*\} [1-9]/);
  assert.match(text, /rpc_server_duration_bucket\{[^}]*method="GetCourse"/);
});

metricsOnly(
  "backlog gauges: an outbox that cannot deliver grows and ages, then drains",
  async ({ sys, telemetry }) => {
    const scrape = async () => (await fetch(`http://127.0.0.1:${telemetry.metricsPort}/metrics`)).text();
    const gauge = (text: string, name: string, labels: string) =>
      Number(
        new RegExp(`^${name}\\{[^}]*${labels}[^}]*\\} ([\\d.e+-]+)$`, "m").exec(text)?.[1] ?? Number.NaN,
      );
    const teacher = await sys.register();
    const student = await sys.register();
    const course = (await sys.client(CourseService).createCourse({ course: courseInput() }, teacher.auth))
      .course!;
    await sys.eventually(async () => {
      const text = await scrape();
      for (const service of ["users", "courses", "admin"]) {
        assert.is(gauge(text, "outbox_pending_events", `service="${service}"`), 0, service);
      }
      for (const channel of ["email", "push", "in_app"]) {
        assert.is(gauge(text, "notification_deliveries_pending", `channel="${channel}"`), 0, channel);
      }
      assert.is(gauge(text, "notification_oldest_pending_seconds", ""), 0);
    });

    // The notifications service down: the enrollment's event waits in the courses outbox.
    await sys.notifications.stop();
    try {
      await sys.client(EnrollmentService).enroll({ courseId: course.id }, student.auth);
      await new Promise((r) => setTimeout(r, 1100));
      const text = await scrape();
      assert.ok(gauge(text, "outbox_pending_events", 'service="courses"') >= 1);
      assert.ok(gauge(text, "outbox_oldest_pending_seconds", 'service="courses"') >= 1);
    } finally {
      await sys.notifications.start();
    }
    await sys.eventually(async () => {
      assert.is(
        gauge(await scrape(), "outbox_pending_events", 'service="courses"'),
        0,
        "delivered after the restart",
      );
    }, 15_000);
  },
);

metricsOnly.run();
