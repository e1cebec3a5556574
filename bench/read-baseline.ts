/**
 * The baseline a team would otherwise write: a minimal Fastify + postgres.js
 * JSON endpoint doing the same reads as GetCourse and ListCourses (the same
 * SQL, through the courses service's own store). Lives only in bench/.
 * Usage: read-baseline.ts <database url> <port>
 */

import { createPool } from "@classconnect/platform";
import Fastify from "fastify";
import { createCourseStore } from "../services/courses/src/store/courses.js";

const [url, port] = process.argv.slice(2) as [string, string];
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
process.stdout.write("ready\n");
