/**
 * `npm run bench:read`: GetCourse and ListCourses over 10,000 courses at
 * concurrency 1, 16 and 64, in one run, for
 *   (a) raw postgres.js running the same query (the ceiling),
 *   (b) a minimal Fastify + postgres.js JSON endpoint (the baseline; b' the same read as
 *       a JSON POST, the shape of a Connect call),
 *   (c) the courses service called directly over gRPC (grpc-js load client; c' with
 *       connect-node's client, for comparison),
 *   (d) the gateway over Connect JSON, in Connect's GET form for methods without side
 *       effects (connect-web's useHttpGet), as b is called; d' the same as a POST,
 *   (e) a bare node:http2 handler shaped like a gRPC call doing the same read (the floor
 *       any Node gRPC service starts from; c/e is what ClassConnect's stack adds, e/b the
 *       ceiling for c/b),
 *   (f) a bare edge (HTTP/1.1 in, HTTP/2 out) in front of e, the gateway's shape with none
 *       of its work (f/b the ceiling for d/b; d/f what ClassConnect's gateway and service add).
 * Prints requests/s, p50 and p99 (ms), the ratios c/b, d/b, d'/b', d'/b, c/e, e/b, d/f, f/b
 * and c/a, and the CPU time each process spent per request (Linux /proc), which shows
 * where a path's cost goes. The servers run as separate processes (npm start's
 * layout); the load generator shares the machine, so compare ratios, not
 * absolutes. BENCH_SECONDS sets the time per cell, BENCH_ROUNDS how many turns
 * it is split into (targets take turns; the median round counts), BENCH_ONLY picks cells.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  CourseService,
  GetCourseRequestSchema,
  ListCoursesRequestSchema,
} from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { createPool, databaseUrl, freePort, startEmbeddedPostgres } from "@classconnect/platform";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import * as grpcJs from "@grpc/grpc-js";
import { createCourseStore } from "../services/courses/src/store/courses.js";
import { cpuSampler, MACHINE } from "./cpu.js";
import { type LoadResult, load, machine, table } from "./load.js";
import { startPlatform } from "./start-platform.js";

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 3);
/** Each cell's SECONDS are split into this many rounds, taken in turns with the other targets; the median counts. */
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 3);
/** Only the cells whose "method|concurrency|target" matches, e.g. BENCH_ONLY='GetCourse\|16\|[bd]' (profiling). */
const ONLY = new RegExp(process.env["BENCH_ONLY"] ?? "");
const COURSES = 10_000;
/** The targets: the courses service over gRPC at 0.8 of the Fastify baseline, the gateway at 0.5. */
const TARGET_C_B = 0.8;
const TARGET_D_B = 0.5;
/**
 * A ratio, marked when it misses its target (cells not measured stay NaN); a miss that
 * two decimals would round up to the target shows more (0.798, not 0.80).
 */
const against = (ratio: number, target: number) => {
  if (Number.isNaN(ratio) || ratio >= target) return ratio.toFixed(2);
  let digits = 2;
  while (digits < 6 && Number(ratio.toFixed(digits)) >= target) digits++;
  return `${ratio.toFixed(digits)} < target`;
};
const dir = mkdtempSync(join(tmpdir(), "classconnect-bench-read-"));
const pg = await startEmbeddedPostgres({ dataDir: join(dir, "pg"), persistent: false, fast: true });
const coursesPort = await freePort();
const platform = await startPlatform({
  CLASSCONNECT_DATA_DIR: dir,
  DATABASE_URL: pg.url,
  COURSES_PORT: String(coursesPort),
  AUTH_RATE_LIMIT_PER_MINUTE: "100000",
});
const coursesDb = databaseUrl(pg.url, "classconnect_courses");
const baselinePort = await freePort();
const barePort = await freePort();
const edgePort = await freePort();
const baseline = spawn(
  process.execPath,
  [
    "--import",
    "tsx",
    "bench/read-baseline.ts",
    coursesDb,
    String(baselinePort),
    String(barePort),
    String(edgePort),
  ],
  {
    stdio: ["ignore", "pipe", "inherit"],
  },
);
await new Promise<void>((resolve) =>
  createInterface({ input: baseline.stdout! }).once("line", () => resolve()),
);

try {
  const reg = await fetch(`${platform.url}/classconnect.users.v1.AuthService/Register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      email: `bench-${Date.now()}@example.com`,
      password: "bench-password",
      firstName: "B",
      lastName: "R",
      location: "X",
      acceptTerms: true,
    }),
  });
  const { user, session } = (await reg.json()) as { user: { id: string }; session: { accessToken: string } };
  const auth = { authorization: `Bearer ${session.accessToken}` };
  const sql = createPool(coursesDb, { max: 10, applicationName: "bench-raw" });
  await sql`
    insert into courses (id, owner_id, title, description, category, level, modality, capacity, start_time, end_time, enrollment_deadline)
    select gen_random_uuid(), ${user.id}, 'Course ' || i, 'About topic ' || i, 'cat-' || (i % 40), 1 + i % 3, 1 + i % 2, 50,
           now() + (i % 365) * interval '1 day' + interval '10 days', now() + (i % 365) * interval '1 day' + interval '100 days',
           now() + (i % 365) * interval '1 day' + interval '5 days'
    from generate_series(1, ${COURSES}) as i`;
  await sql`analyze courses`;
  const ids = (await sql<{ id: string }[]>`select id from courses`).map((r) => r.id);
  const randomId = () => ids[Math.floor(Math.random() * ids.length)]!;
  const store = createCourseStore(sql);
  const grpc = createClient(
    CourseService,
    createGrpcTransport({ baseUrl: `http://127.0.0.1:${coursesPort}` }),
  );
  // The load generator shares the machine: a lighter gRPC client (grpc-js) leaves more CPU to the server.
  // Like b's and d's clients, which read the answer's bytes without parsing the JSON, it takes the
  // answer's bytes without decoding them (c' decodes: connect's client always does).
  const grpcJsClient = new grpcJs.Client(`127.0.0.1:${coursesPort}`, grpcJs.credentials.createInsecure());
  const bareClient = new grpcJs.Client(`127.0.0.1:${barePort}`, grpcJs.credentials.createInsecure());
  const metadata = new grpcJs.Metadata();
  metadata.set("authorization", auth.authorization);
  // The bare handler has no sign-in: it is told the caller, as b is.
  const bareMetadata = new grpcJs.Metadata();
  bareMetadata.set("x-caller", user.id);
  const unary = (client: grpcJs.Client, meta: grpcJs.Metadata, path: string, body: Uint8Array) =>
    new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        path,
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => b,
        body,
        meta,
        (err: grpcJs.ServiceError | null, out?: Buffer) => (err ? reject(err) : resolve(out!)),
      ),
    );
  const getRequest = (courseId: string) =>
    toBinary(GetCourseRequestSchema, create(GetCourseRequestSchema, { courseId }));
  const listRequest = toBinary(ListCoursesRequestSchema, create(ListCoursesRequestSchema, {}));
  const getPath = "/classconnect.courses.v1.CourseService/GetCourse";
  const listPath = "/classconnect.courses.v1.CourseService/ListCourses";
  // Both b and d answer uncompressed JSON: the Fastify baseline has no compression, and d is
  // asked for identity, so both send the same bytes (the gateway gzips from 1 KiB otherwise).
  const answered = async (r: Response) => {
    if (r.status !== 200) throw new Error(String(r.status));
    await r.arrayBuffer();
  };
  const json = (method: string, body: unknown) =>
    fetch(`${platform.url}/classconnect.courses.v1.CourseService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", "accept-encoding": "identity", ...auth },
      body: JSON.stringify(body),
    }).then(answered);
  // Connect's GET form, for methods without side effects (connect-web's useHttpGet), as b is called.
  const jsonGet = (method: string, body: unknown) =>
    fetch(
      `${platform.url}/classconnect.courses.v1.CourseService/${method}?connect=v1&encoding=json&message=${encodeURIComponent(JSON.stringify(body))}`,
      { headers: { "accept-encoding": "identity", ...auth } },
    ).then(answered);
  const get = (path: string, port = baselinePort) => fetch(`http://127.0.0.1:${port}${path}`).then(answered);
  const post = (path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${baselinePort}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }).then(answered);
  const targets: Record<string, Record<"GetCourse" | "ListCourses", () => Promise<unknown>>> = {
    "a raw postgres.js": {
      GetCourse: () => store.view(randomId(), user.id),
      ListCourses: () => store.catalog(user.id, { includeClosed: false }, "start_time", 21),
    },
    "b Fastify JSON": {
      GetCourse: () => get(`/courses/${randomId()}?caller=${user.id}`),
      ListCourses: () => get(`/courses?caller=${user.id}`),
    },
    "b' Fastify JSON, POST": {
      GetCourse: () => post("/courses/get", { courseId: randomId(), caller: user.id }),
      ListCourses: () => post("/courses/list", { caller: user.id }),
    },
    "c courses gRPC": {
      GetCourse: () => unary(grpcJsClient, metadata, getPath, getRequest(randomId())),
      ListCourses: () => unary(grpcJsClient, metadata, listPath, listRequest),
    },
    "c' courses gRPC, connect client": {
      GetCourse: () => grpc.getCourse({ courseId: randomId() }, { headers: auth }),
      ListCourses: () => grpc.listCourses({}, { headers: auth }),
    },
    "d gateway Connect JSON": {
      GetCourse: () => jsonGet("GetCourse", { courseId: randomId() }),
      ListCourses: () => jsonGet("ListCourses", {}),
    },
    "d' gateway Connect JSON, POST": {
      GetCourse: () => json("GetCourse", { courseId: randomId() }),
      ListCourses: () => json("ListCourses", {}),
    },
    "e bare node:http2 gRPC": {
      GetCourse: () => unary(bareClient, bareMetadata, getPath, getRequest(randomId())),
      ListCourses: () => unary(bareClient, bareMetadata, listPath, listRequest),
    },
    "f bare edge → e": {
      GetCourse: () => get(`/courses/${randomId()}?caller=${user.id}`, edgePort),
      ListCourses: () => get(`/courses?caller=${user.id}`, edgePort),
    },
  };
  const cpu = cpuSampler(
    { "load generator": process.pid, platform: platform.child.pid!, baseline: baseline.pid! },
    {
      postgres: /(^|\/)postgres:? /,
      gateway: /gateway\/dist\/main/,
      "bare edge": /bench\/read-edge/,
      courses: /services\/courses\//,
      "other services": /services\/(users|notifications|admin)\//,
    },
  );
  const cpuGroups = [
    "load generator",
    "baseline",
    "bare edge",
    "gateway",
    "courses",
    "postgres",
    "other services",
    MACHINE,
  ];
  const results = new Map<string, LoadResult>();
  /** Every round of every cell, in order: round i of c and d is compared with round i of b. */
  const allRounds = new Map<string, LoadResult[]>();
  const cpuRows: (string | number)[][] = [];
  /** Per cell: the machine's CPU per call (µs) and how many cores it kept busy, over all its rounds. */
  const machineUse = new Map<string, { perCall: number; cores: number }>();
  for (const method of ["GetCourse", "ListCourses"] as const) {
    for (const t of Object.values(targets)) await load(t[method], 8, 0.5); // warm-up
    for (const c of [1, 16, 64]) {
      const cells = Object.entries(targets).filter(([name]) => ONLY.test(`${method}|${c}|${name}`));
      const rounds = new Map<string, LoadResult[]>(cells.map(([name]) => [name, []]));
      const cpuSpent = new Map<string, number[]>(cells.map(([name]) => [name, cpuGroups.map(() => 0)]));
      // Targets take turns, ROUNDS times, so that a noisy moment on the shared machine hits all of them.
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, t] of cells) {
          const before = cpu?.();
          rounds.get(name)!.push(await load(t[method], c, SECONDS / ROUNDS));
          const after = cpu?.();
          if (before && after) {
            const spent = cpuSpent.get(name)!;
            cpuGroups.forEach((g, i) => {
              spent[i]! += (after.get(g) ?? 0) - (before.get(g) ?? 0);
            });
          }
        }
      }
      for (const [name] of cells) {
        const all = rounds.get(name)!;
        // The median round by requests/s stands for the cell (its p50 and p99 too).
        const median = [...all].sort((x, y) => x.perSecond - y.perSecond)[Math.floor(all.length / 2)]!;
        results.set(`${method}|${c}|${name}`, median);
        allRounds.set(`${method}|${c}|${name}`, all);
        const requests = all.reduce((n, r) => n + r.requests, 0);
        if (cpu && requests > 0) {
          const perRequest = cpuSpent.get(name)!.map((seconds) => (seconds * 1e6) / requests);
          const machinePerCall = perRequest.pop()!;
          const wall = all.reduce((t, r) => t + r.requests / r.perSecond, 0);
          machineUse.set(`${method}|${c}|${name}`, {
            perCall: machinePerCall,
            cores: (machinePerCall * requests) / 1e6 / wall,
          });
          const charged = perRequest.reduce((x, y) => x + y, 0);
          cpuRows.push([
            method,
            c,
            name,
            ...perRequest.map((x) => x.toFixed(0)),
            (machinePerCall - charged).toFixed(0),
            machinePerCall.toFixed(0),
          ]);
        }
      }
    }
  }
  const rows: (string | number)[][] = [];
  const ratioRows: (string | number)[][] = [];
  for (const method of ["GetCourse", "ListCourses"]) {
    for (const c of [1, 16, 64]) {
      const r = (n: string) => results.get(`${method}|${c}|${n}`)?.perSecond ?? Number.NaN;
      for (const name of Object.keys(targets)) {
        const x = results.get(`${method}|${c}|${name}`);
        if (!x) continue;
        rows.push([method, c, name, x.perSecond.toFixed(0), x.p50.toFixed(2), x.p99.toFixed(2), x.errors]);
      }
      const a = r("a raw postgres.js");
      const b = r("b Fastify JSON");
      const cc = r("c courses gRPC");
      const d = r("d gateway Connect JSON");
      const bPost = r("b' Fastify JSON, POST");
      const dPost = r("d' gateway Connect JSON, POST");
      const e = r("e bare node:http2 gRPC");
      const f = r("f bare edge → e");
      ratioRows.push([
        method,
        c,
        against(cc / b, TARGET_C_B),
        against(d / b, TARGET_D_B),
        (dPost / bPost).toFixed(2),
        (dPost / b).toFixed(2),
        (cc / e).toFixed(2),
        (e / b).toFixed(2),
        (d / f).toFixed(2),
        (f / b).toFixed(2),
        (cc / a).toFixed(2),
      ]);
    }
  }
  console.log(
    `\nbench:read — ${COURSES} courses, ${SECONDS} s per cell in ${ROUNDS} rounds (median round shown)`,
  );
  console.log(machine());
  console.log(table(["method", "conc", "target", "req/s", "p50 ms", "p99 ms", "errors"], rows));
  console.log(
    `\nratios (targets: c/b ≥ ${TARGET_C_B}, d/b ≥ ${TARGET_D_B}, "< target" marks a miss; b and d both GET); d'/b' both POST; d'/b POST against GET; c/e ClassConnect's stack against a bare handler, e/b its ceiling; d/f the gateway path against a bare edge and handler, f/b its ceiling`,
  );
  console.log(
    table(["method", "conc", "c/b", "d/b", "d'/b'", "d'/b", "c/e", "e/b", "d/f", "f/b", "c/a"], ratioRows),
  );
  // Each round's ratio, from rounds a few seconds apart: how far the machine's noise moves a ratio within this run.
  const roundRows: (string | number)[][] = [];
  for (const method of ["GetCourse", "ListCourses"]) {
    for (const c of [1, 16, 64]) {
      const rounds = (n: string) => allRounds.get(`${method}|${c}|${n}`);
      const b = rounds("b Fastify JSON");
      const perRound = (n: string) =>
        rounds(n)
          ?.map((x, i) => (x.perSecond / b![i]!.perSecond).toFixed(2))
          .join(" ") ?? "";
      if (b && (rounds("c courses gRPC") || rounds("d gateway Connect JSON"))) {
        roundRows.push([method, c, perRound("c courses gRPC"), perRound("d gateway Connect JSON")]);
      }
    }
  }
  if (roundRows.length > 0) {
    console.log("\nc/b and d/b round by round (each round of c and d against the same round of b)");
    console.log(table(["method", "conc", "c/b by round", "d/b by round"], roundRows));
  }
  if (cpuRows.length > 0) {
    console.log(
      "\nCPU per request, µs, by process (/proc; 10 ms ticks); kernel/rest: machine time no process is charged for (loopback network interrupts, other tenants)",
    );
    console.log(
      table(["method", "conc", "target", ...cpuGroups.slice(0, -1), "kernel/rest", "machine"], cpuRows),
    );
    // The same targets as CPU: what c/b and d/b would be if every path kept the cores as busy as b.
    const cpuRatioRows: (string | number)[][] = [];
    for (const method of ["GetCourse", "ListCourses"]) {
      for (const c of [1, 16, 64]) {
        const use = (n: string) => machineUse.get(`${method}|${c}|${n}`);
        const [b, cc, d] = [use("b Fastify JSON"), use("c courses gRPC"), use("d gateway Connect JSON")];
        if (!b || !(cc || d)) continue;
        const cores = (u: typeof b | undefined) => (u ? u.cores.toFixed(2) : "");
        cpuRatioRows.push([
          method,
          c,
          cc ? against(b.perCall / cc.perCall, TARGET_C_B) : "",
          d ? against(b.perCall / d.perCall, TARGET_D_B) : "",
          cores(b),
          cores(cc),
          cores(d),
        ]);
      }
    }
    console.log(
      "\nthe ratios as machine CPU per call (b's over c's and d's: the targets if every path kept the cores as busy as b), and the cores each kept busy",
    );
    console.log(
      table(["method", "conc", "c/b CPU", "d/b CPU", "cores b", "cores c", "cores d"], cpuRatioRows),
    );
  }
  await sql.end();
} finally {
  baseline.kill("SIGTERM");
  await platform.stop();
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
