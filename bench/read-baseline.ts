/**
 * The baseline a team would otherwise write: a minimal Fastify + postgres.js
 * JSON endpoint doing the same reads as GetCourse and ListCourses (the same
 * SQL, through the courses service's own store). Lives only in bench/.
 * On a second port, the same reads as a bare node:http2 handler shaped like a
 * gRPC unary call (one framed message in, the same JSON bytes as b framed out,
 * grpc-status in trailers): the floor any gRPC service in Node starts from, so
 * bench:read can show what ClassConnect's own stack adds (c/e). It starts the bare edge
 * in front of that handler (read-edge.ts, bench:read's f) as its child process.
 * Usage: read-baseline.ts <database url> <port> <bare port> <edge port>
 */
import { spawn } from "node:child_process";
import * as http2 from "node:http2";
import { createInterface } from "node:readline";
import { fromBinary } from "@bufbuild/protobuf";
import { GetCourseRequestSchema } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";

import { createPool, envelope } from "@classconnect/platform";
import Fastify from "fastify";
import { createCourseStore } from "../services/courses/src/store/courses.js";

const [url, port, barePort, edgePort] = process.argv.slice(2) as [string, string, string, string];
const store = createCourseStore(createPool(url, { max: 10, applicationName: "bench-baseline" }));
const app = Fastify({ logger: false });
app.get<{ Params: { id: string }; Querystring: { caller: string } }>("/courses/:id", async (req) => {
  return { course: await store.view(req.params.id, req.query.caller) };
});
app.get<{ Querystring: { caller: string } }>("/courses", async (req) => {
  const rows = await store.catalog(req.query.caller, { includeClosed: false }, "start_time", 21);
  return { courses: rows.slice(0, 20).map((r) => r.view) };
});
// The same reads as JSON POSTs (RPC style, as Connect sends them), for a like-for-like comparison.
app.post<{ Body: { courseId: string; caller: string } }>("/courses/get", async (req) => {
  return { course: await store.view(req.body.courseId, req.body.caller) };
});
app.post<{ Body: { caller: string } }>("/courses/list", async (req) => {
  const rows = await store.catalog(req.body.caller, { includeClosed: false }, "start_time", 21);
  return { courses: rows.slice(0, 20).map((r) => r.view) };
});
await app.listen({ port: Number(port), host: "127.0.0.1" });

const bare = http2.createServer();
bare.on("stream", (stream, headers) => {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  stream.on("end", async () => {
    const caller = String(headers["x-caller"]);
    let answer: unknown;
    if (headers[":path"]?.endsWith("/GetCourse")) {
      const { courseId } = fromBinary(GetCourseRequestSchema, Buffer.concat(chunks).subarray(5));
      answer = { course: await store.view(courseId, caller) };
    } else {
      const rows = await store.catalog(caller, { includeClosed: false }, "start_time", 21);
      answer = { courses: rows.slice(0, 20).map((r) => r.view) };
    }
    const frame = envelope(Buffer.from(JSON.stringify(answer)));
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    stream.end(frame);
  });
});
await new Promise<void>((resolve) => bare.listen(Number(barePort), "127.0.0.1", resolve));
const edge = spawn(process.execPath, ["--import", "tsx", "bench/read-edge.ts", edgePort, barePort], {
  stdio: ["ignore", "pipe", "inherit"],
});
await new Promise<void>((resolve) => createInterface({ input: edge.stdout! }).once("line", () => resolve()));
process.once("SIGTERM", () => {
  edge.kill("SIGTERM");
  process.exit(0);
});
process.stdout.write("ready\n");
