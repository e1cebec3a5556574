/**
 * `npm run bench:enroll`: 1,000 students enroll at the same instant into a
 * course of capacity 100, through the gateway of a running platform (separate
 * processes, as `npm start` runs them). Exactly 100 must succeed; the rest must
 * be refused with COURSE_FULL.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { ErrorInfoSchema } from "@classconnect/gen/google/rpc/error_details_pb.js";
import { machine, table } from "./load.js";
import { startPlatform } from "./start-platform.js";

const STUDENTS = 1000;
const CAPACITY = 100;
const dataDir = mkdtempSync(join(tmpdir(), "classconnect-bench-enroll-"));
const platform = await startPlatform({
  CLASSCONNECT_DATA_DIR: dataDir,
  AUTH_RATE_LIMIT_PER_MINUTE: "100000",
});
const post = async (path: string, body: unknown, token?: string) => {
  const res = await fetch(`${platform.url}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const register = async (i: number) => {
  const res = await post("classconnect.users.v1.AuthService/Register", {
    email: `bench-${i}-${Date.now()}@example.com`,
    password: "bench-password",
    firstName: "Bench",
    lastName: String(i),
    location: "X",
    acceptTerms: true,
  });
  return (res.body["session"] as { accessToken: string }).accessToken;
};
try {
  const teacher = await register(-1);
  const day = 24 * 3600_000;
  const iso = (ms: number) => new Date(Date.now() + ms).toISOString();
  const course = await post(
    "classconnect.courses.v1.CourseService/CreateCourse",
    {
      course: {
        title: "Popular",
        description: "d",
        category: "c",
        level: "COURSE_LEVEL_BEGINNER",
        modality: "MODALITY_ONLINE",
        capacity: CAPACITY,
        startTime: iso(10 * day),
        endTime: iso(20 * day),
        enrollmentDeadline: iso(5 * day),
      },
    },
    teacher,
  );
  const courseId = (course.body["course"] as { id: string }).id;
  const tokens: string[] = [];
  for (let i = 0; i < STUDENTS; i += 25)
    tokens.push(
      ...(await Promise.all(Array.from({ length: Math.min(25, STUDENTS - i) }, (_, j) => register(i + j)))),
    );
  const started = performance.now();
  const results = await Promise.all(
    tokens.map((t) => post("classconnect.courses.v1.EnrollmentService/Enroll", { courseId }, t)),
  );
  const seconds = (performance.now() - started) / 1000;
  const ok = results.filter((r) => r.status === 200).length;
  // The refusal's reason travels in google.rpc.ErrorInfo (binary details); decode it.
  const reasonOf = (body: Record<string, unknown>) => {
    const detail = (body["details"] as { type: string; value: string }[] | undefined)?.find(
      (d) => d.type === "google.rpc.ErrorInfo",
    );
    return detail ? fromBinary(ErrorInfoSchema, Buffer.from(detail.value, "base64")).reason : undefined;
  };
  const full = results.filter(
    (r) => r.body["code"] === "failed_precondition" && reasonOf(r.body) === "COURSE_FULL",
  ).length;
  const other = results.length - ok - full;
  console.log(`\nbench:enroll — ${STUDENTS} simultaneous Enroll calls, capacity ${CAPACITY}`);
  console.log(machine());
  console.log(
    table(
      ["succeeded", "refused COURSE_FULL", "other answers", "wall time (s)", "enroll calls/s"],
      [[ok, full, other, seconds.toFixed(2), (STUDENTS / seconds).toFixed(0)]],
    ),
  );
  if (ok !== CAPACITY || other !== 0) process.exitCode = 1;
} finally {
  await platform.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
