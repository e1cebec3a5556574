/**
 * Reliability at the edge: malformed requests only ever get client-error codes
 * (never INTERNAL) and leave the gateway healthy; an idle keep-alive client does
 * not hold a stop; a client too slow with its headers or its request is cut off, and
 * idle HTTP/2 connections are closed as HTTP/1.1 ones are; a slow upstream makes the
 * deadline fire instead of hanging the caller, and a caller who hangs up cancels the
 * upstream call.
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { create, toJson } from "@bufbuild/protobuf";
import { CourseInputSchema } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import {
  AuthService,
  GetJwksResponseSchema,
} from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { startServer } from "@classconnect/platform";
import { testLogger } from "@classconnect/platform/testing";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readGatewayConfig, routeTable } from "../src/index.js";
import { courseInput, type System, startLoneGateway, startSystem } from "./system.js";

const fuzz = suite<{ sys: System }>("reliability: 1,000 malformed requests through the gateway");
fuzz.before(async (ctx) => {
  ctx.sys = await startSystem({ gateway: { MAX_REQUEST_BYTES: "65536" } });
});
fuzz.after(async (ctx) => {
  await ctx.sys?.close();
});

const paths = routeTable.flatMap(({ service }) =>
  service.methods.map((m) => `/${service.typeName}/${m.name}`),
);
const serverFaults = new Set(["internal", "unknown", "data_loss"]);

fuzz("only client-error codes come back, and the gateway stays healthy", async ({ sys }) => {
  const user = await sys.register();
  const body = fc.oneof(
    fc.json(),
    fc.string(),
    fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b).toString("latin1")),
    fc
      .dictionary(
        fc.constantFrom(
          "email",
          "password",
          "courseId",
          "userId",
          "pageSize",
          "pageToken",
          "updateMask",
          "course",
          "rule",
        ),
        fc.jsonValue(),
      )
      .map((d) => JSON.stringify(d)),
  );
  const request = fc.record({
    path: fc.oneof(
      fc.constantFrom(...paths),
      fc.string().map((s) => `/${s}`),
      // Connect GET's query: encoding, base64, compression and message in any combination.
      fc
        .tuple(
          fc.constantFrom(...paths),
          fc.constantFrom("json", "proto", "xml"),
          fc.constantFrom("1", "0"),
          fc.constantFrom("gzip", "br", "identity", "zstd"),
          fc.oneof(fc.string(), fc.base64String(), fc.json()),
        )
        .map(
          ([path, encoding, base64, compression, message]) =>
            `${path}?connect=v1&encoding=${encoding}&base64=${base64}&compression=${compression}&message=${encodeURIComponent(message)}`,
        ),
    ),
    body,
    contentType: fc.constantFrom(
      "application/json",
      "application/proto",
      "application/grpc+json",
      "text/plain",
      "application/connect+json",
    ),
    auth: fc.constantFrom("none", "user", "garbage"),
    method: fc.constantFrom("POST", "POST", "POST", "GET", "PUT"),
  });
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const headers: Record<string, string> = { "content-type": r.contentType };
      if (r.auth === "user") headers["authorization"] = `Bearer ${user.token}`;
      if (r.auth === "garbage") headers["authorization"] = "Bearer x.y.z";
      const res = await fetch(`${sys.url}${r.path.replace(/[^\x21-\x7e]/g, "_")}`, {
        method: r.method,
        headers,
        ...(r.method === "GET" ? {} : { body: r.body }),
      });
      const text = await res.text();
      let code = `http_${res.status}`;
      let message = "";
      try {
        ({ code = code, message = "" } = JSON.parse(text) as { code?: string; message?: string });
      } catch {}
      seen.set(code, (seen.get(code) ?? 0) + 1);
      // The Connect protocol answers a compression the server lacks with 501 and the ones it has.
      const unknownCompression =
        res.status === 501 && code === "unimplemented" && message.startsWith("unknown compression");
      return unknownCompression || (res.status < 500 && !serverFaults.has(code));
    }),
    { numRuns: 1000, seed: 20261124 },
  );
  assert.ok(seen.size > 3, `a variety of outcomes: ${[...seen.keys()].join(", ")}`);
  const health = await fetch(`${sys.url}/grpc.health.v1.Health/Check`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(await health.json(), { status: "SERVING" });
});

fuzz(
  "well-formed requests with any text in a field (NUL, controls, any code point): never a server fault",
  async ({ sys }) => {
    const user = await sys.register();
    const courseId = "6f1c7d0e-8a5b-4c2d-9e3f-0a1b2c3d4e5f";
    const courseJson = toJson(CourseInputSchema, courseInput()) as object;
    // One string slot each, in requests that are otherwise valid; the text is stored,
    // searched for or compared, depending on the method.
    const requests: [string, (text: string) => object][] = [
      ["classconnect.users.v1.UserService/UpdateMe", (bio) => ({ user: { bio }, updateMask: "bio" })],
      ["classconnect.users.v1.UserService/SearchUsers", (query) => ({ query })],
      ["classconnect.users.v1.AuthService/Login", (password) => ({ email: user.email, password })],
      ["classconnect.courses.v1.CourseService/ListCourses", (keyword) => ({ keyword })],
      [
        "classconnect.courses.v1.CourseService/CreateCourse",
        (title) => ({ course: { ...courseJson, title } }),
      ],
      ["classconnect.courses.v1.CourseService/AddFavorite", (id) => ({ courseId: id || courseId })],
      [
        "classconnect.notifications.v1.NotificationService/RegisterDevice",
        (token) => ({ token, platform: 1 }),
      ],
    ];
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.string({ unit: "binary-ascii", maxLength: 40 }),
      fc.string({ unit: "grapheme", maxLength: 40 }).map((s) => `${s}\u0000${s}`),
    );
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(fc.nat(requests.length - 1), text, async (i, t) => {
        const [path, body] = requests[i]!;
        const res = await fetch(`${sys.url}/${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${user.token}` },
          body: JSON.stringify(body(t)),
        });
        const answer = (await res.json()) as { code?: string; message?: string };
        const code = answer.code ?? "ok";
        seen.set(code, (seen.get(code) ?? 0) + 1);
        if (t.includes("\u0000")) {
          assert.is(code, "invalid_argument", `${path} with NUL: ${answer.message}`);
        }
        return res.status < 500 && !serverFaults.has(code);
      }),
      { numRuns: 300, seed: 20261126 },
    );
    assert.ok((seen.get("ok") ?? 0) > 0 && (seen.get("invalid_argument") ?? 0) > 0, [...seen].join(", "));
  },
);

fuzz.run();

/** A gateway on its own, its upstreams unreachable unless `env` names them. */
const stopping = suite("reliability: the gateway's client connections");

/**
 * Sends `bytes` on a raw connection and resolves with everything the gateway answers
 * before it closes the connection; fails if it is still open after 10 s (far beyond
 * the sub-second timeouts these tests set).
 */
function sendAndReadUntilClosed(port: number, bytes: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let got = "";
    const socket = net.connect(port, "127.0.0.1", () => socket.write(bytes));
    socket.on("data", (chunk) => {
      got += chunk;
    });
    socket.on("close", () => resolve(got));
    socket.on("error", reject);
    setTimeout(() => {
      reject(new Error("still open after 10 s"));
      socket.destroy();
    }, 10_000).unref();
  });
}

stopping("an idle keep-alive HTTP/1.1 client does not hold the stop", async () => {
  const gateway = await startLoneGateway();
  const agent = new http.Agent({ keepAlive: true });
  const closed = new Promise<void>((resolve) => {
    http
      .get(`${gateway.url}/blobs/none.png`, { agent }, (res) => {
        res.resume();
        res.socket.once("close", () => resolve());
      })
      .end();
  });
  await new Promise((r) => setTimeout(r, 200)); // answered; the connection is now idle
  const started = performance.now();
  await gateway.close();
  const took = performance.now() - started;
  // Before the fix the idle connection was only cut by the 5 s shutdown deadline.
  assert.ok(took < 2_000, `stopped in ${Math.round(took)} ms`);
  await closed;
  agent.destroy();
});

stopping("a client that never finishes its headers is answered 408 and cut off", async () => {
  const gateway = await startLoneGateway({ HEADERS_TIMEOUT_MS: "500" });
  try {
    const answer = await sendAndReadUntilClosed(gateway.port, "GET /blobs/x HTTP/1.1\r\nHost: x\r\n");
    assert.match(answer, /^HTTP\/1\.1 408/);
  } finally {
    await gateway.close();
  }
});

stopping(
  "connections reset or silent before their first byte neither end the gateway nor stay open",
  async () => {
    const gateway = await startLoneGateway({ HEADERS_TIMEOUT_MS: "500" });
    // Before the fix, the first reset was an uncaught ECONNRESET: it ended the process.
    const uncaught: unknown[] = [];
    const record = (err: unknown) => uncaught.push(err);
    process.on("uncaughtException", record);
    try {
      for (let i = 0; i < 20; i++) {
        await new Promise<void>((resolve) => {
          const socket = net.connect(gateway.port, "127.0.0.1", () => {
            socket.resetAndDestroy();
            resolve();
          });
          socket.on("error", () => {});
        });
      }
      const silentClosed = await new Promise<boolean>((resolve) => {
        const socket = net.connect(gateway.port, "127.0.0.1");
        socket.on("close", () => resolve(true));
        socket.on("error", () => {});
        setTimeout(() => {
          socket.destroy();
          resolve(false);
        }, 10_000).unref();
      });
      assert.ok(silentClosed, "a connection that sends nothing is closed after the headers timeout");
      const res = await fetch(`${gateway.url}/blobs/none.png`);
      assert.is(res.status, 404, "still serving");
      await res.arrayBuffer();
      assert.equal(uncaught, []);
    } finally {
      process.off("uncaughtException", record);
      await gateway.close();
    }
  },
);

stopping(
  "an HTTP/2 connection with no open stream is closed after the keep-alive timeout, as HTTP/1.1's is",
  async () => {
    const gateway = await startLoneGateway({ KEEP_ALIVE_TIMEOUT_MS: "300" });
    try {
      const session = http2.connect(gateway.url);
      session.on("error", () => {});
      const closed = new Promise<number>((resolve) => {
        session.once("close", () => resolve(performance.now()));
        setTimeout(() => resolve(Number.NaN), 10_000).unref();
      });
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ":path": "/blobs/none.png" });
        req.on("response", (h) => resolve(Number(h[":status"])));
        req.on("error", reject);
        req.resume();
      });
      assert.is(status, 404);
      const answered = performance.now();
      const closedAt = await closed;
      // Before, an idle HTTP/2 connection was held until the client left.
      assert.ok(!Number.isNaN(closedAt), "the idle HTTP/2 connection was still open after 10 s");
      assert.ok(closedAt - answered >= 200, `closed ${Math.round(closedAt - answered)} ms after the answer`);
      const h1Closed = await new Promise<boolean>((resolve) => {
        const agent = new http.Agent({ keepAlive: true });
        http
          .get(`${gateway.url}/blobs/none.png`, { agent }, (res) => {
            res.resume();
            res.socket.once("close", () => resolve(true));
          })
          .end();
        setTimeout(() => resolve(false), 10_000).unref();
      });
      assert.ok(h1Closed, "an idle HTTP/1.1 keep-alive connection is closed after the same timeout");
    } finally {
      await gateway.close();
    }
  },
);

stopping(
  "a request over HTTP/2 whose body stalls is answered 408; the connection keeps serving",
  async () => {
    const gateway = await startLoneGateway({ REQUEST_TIMEOUT_MS: "500", HEADERS_TIMEOUT_MS: "500" });
    const uncaught: unknown[] = [];
    const record = (err: unknown) => uncaught.push(err);
    process.on("uncaughtException", record);
    const session = http2.connect(gateway.url);
    session.on("error", () => {});
    try {
      const started = performance.now();
      const status = await new Promise<number | string>((resolve) => {
        const req = session.request({
          ":method": "POST",
          ":path": "/classconnect.users.v1.AuthService/Login",
          "content-type": "application/json",
        });
        req.write('{"email":'); // and never the rest
        req.on("response", (h) => resolve(Number(h[":status"])));
        req.on("close", () => resolve(`closed, code ${req.rstCode}`));
        req.on("error", () => {});
        req.resume();
        setTimeout(() => resolve("still waiting after 10 s"), 10_000).unref();
      });
      assert.is(status, 408);
      assert.ok(performance.now() - started >= 400, "not before the request timeout");
      const next = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ":path": "/blobs/none.png" });
        req.on("response", (h) => resolve(Number(h[":status"])));
        req.on("error", reject);
        req.resume();
      });
      assert.is(next, 404, "the same connection still serves");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(uncaught, []);
    } finally {
      process.off("uncaughtException", record);
      session.destroy();
      await gateway.close();
    }
  },
);

stopping("a request over HTTP/1.1 whose body stalls is answered 408", async () => {
  const gateway = await startLoneGateway({ REQUEST_TIMEOUT_MS: "500", HEADERS_TIMEOUT_MS: "500" });
  try {
    const answer = await sendAndReadUntilClosed(
      gateway.port,
      "POST /classconnect.users.v1.AuthService/Login HTTP/1.1\r\nHost: x\r\n" +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email":',
    );
    assert.match(answer, /^HTTP\/1\.1 408/);
  } finally {
    await gateway.close();
  }
});

stopping("a headers timeout longer than the request timeout is refused at start", () => {
  assert.throws(
    () => readGatewayConfig({ HEADERS_TIMEOUT_MS: "60000", REQUEST_TIMEOUT_MS: "30000" }),
    /HEADERS_TIMEOUT_MS.*REQUEST_TIMEOUT_MS/,
  );
});

stopping.run();

const slow = suite("reliability: a slow downstream");

/**
 * A users service whose GetJwks waits 10 s unless its call is cancelled; counts the
 * calls it started and records when each cancellation reached it.
 */
async function startSlowUsers() {
  const calls = { started: 0, aborted: [] as number[] };
  const server = await startServer({
    name: "slow-users",
    port: 0,
    logger: testLogger("slow"),
    ready: async () => true,
    routes(router) {
      router.service(AuthService, {
        async getJwks(_req, ctx) {
          calls.started++;
          await new Promise((resolve) => {
            const timer = setTimeout(resolve, 10_000);
            ctx.signal.addEventListener("abort", () => {
              calls.aborted.push(Date.now());
              clearTimeout(timer);
              resolve(undefined);
            });
          });
          return create(GetJwksResponseSchema, {});
        },
      });
    },
  });
  return Object.assign(server, { calls });
}

slow("the gateway's deadline fires: DEADLINE_EXCEEDED quickly, not a hang", async () => {
  const slowUsers = await startSlowUsers();
  // The request timeout (300 ms) covers receiving a request, not waiting on its upstream:
  // calls sent in full are answered by the 1 s deadline, not cut off at 300 ms.
  const gateway = await startLoneGateway({
    USERS_SERVICE_URL: slowUsers.url,
    UPSTREAM_TIMEOUT_MS: "1000",
    REQUEST_TIMEOUT_MS: "300",
    HEADERS_TIMEOUT_MS: "300",
  });
  try {
    // gRPC (connect-node's path at the edge) and Connect JSON (the edge's lean path).
    for (const transport of [
      createGrpcTransport({ baseUrl: gateway.url }),
      createConnectTransport({ baseUrl: gateway.url, httpVersion: "1.1" }),
    ]) {
      const client = createClient(AuthService, transport);
      const started = Date.now();
      let code: Code | undefined;
      try {
        await client.getJwks({});
      } catch (err) {
        code = ConnectError.from(err).code;
      }
      const took = Date.now() - started;
      assert.is(code, Code.DeadlineExceeded);
      assert.ok(took < 3000, `answered in ${took} ms`);
      // A caller's own shorter deadline wins.
      code = undefined;
      const callerStarted = Date.now();
      try {
        await client.getJwks({}, { timeoutMs: 100 });
      } catch (err) {
        code = ConnectError.from(err).code;
      }
      assert.is(code, Code.DeadlineExceeded);
      assert.ok(Date.now() - callerStarted < 2000);
    }
    // The caller's deadline header alone (no client-side timer) shortens the gateway's 1 s.
    const headerStarted = Date.now();
    const res = await fetch(`${gateway.url}/classconnect.users.v1.AuthService/GetJwks`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "100" },
      body: "{}",
    });
    const took = Date.now() - headerStarted;
    assert.is(res.status, 504);
    assert.is(((await res.json()) as { code: string }).code, "deadline_exceeded");
    assert.ok(took < 800, `answered in ${took} ms, not at the gateway's 1 s`);
  } finally {
    await gateway.close();
    await slowUsers.close();
  }
});

slow("a caller who hangs up cancels the upstream call (Connect JSON and gRPC)", async () => {
  const slowUsers = await startSlowUsers();
  const { calls } = slowUsers;
  const gateway = await startLoneGateway({ USERS_SERVICE_URL: slowUsers.url });
  try {
    // Connect JSON over HTTP/1.1 (the edge's lean path): the connection closes mid-call.
    const socket = net.connect(gateway.port, "127.0.0.1", () =>
      socket.write(
        "POST /classconnect.users.v1.AuthService/GetJwks HTTP/1.1\r\nHost: x\r\n" +
          "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
      ),
    );
    socket.on("error", () => {});
    await waitFor(() => calls.started === 1);
    const hungUp = Date.now();
    socket.destroy();
    await waitFor(() => calls.aborted.length === 1);
    assert.ok(
      calls.aborted[0]! - hungUp < 2000,
      `upstream cancelled ${calls.aborted[0]! - hungUp} ms after the hang-up`,
    );

    // gRPC over HTTP/2 (connect-node's path at the edge): the caller cancels its stream.
    const abort = new AbortController();
    const call = createClient(AuthService, createGrpcTransport({ baseUrl: gateway.url }))
      .getJwks({}, { signal: abort.signal })
      .catch((err) => ConnectError.from(err).code);
    await waitFor(() => calls.started === 2);
    abort.abort();
    assert.is(await call, Code.Canceled);
    await waitFor(() => calls.aborted.length === 2);
  } finally {
    await gateway.close();
    await slowUsers.close();
  }
});

/** Polls `check` until it holds; fails after 5 s (the upstream's own wait is 10 s). */
async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`still waiting after 5 s: ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

slow.run();
