import * as http2 from "node:http2";
import * as net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { create } from "@bufbuild/protobuf";
import {
  AuthService,
  GetJwksResponseSchema,
} from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "@classconnect/gen/grpc/health/v1/health_pb.js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  createLeanGrpcTransport,
  createPool,
  type Http2Limits,
  isDatabaseReady,
  LIVENESS_SERVICE,
  startServer,
} from "../src/index.js";
import { createTestDatabase, testLogger, until } from "../src/testing/index.js";

const test = suite("platform: server lifecycle");

test("readiness reflects real database readiness; liveness does not", async () => {
  const good = createPool(await createTestDatabase("health"));
  const bad = createPool("postgres://postgres:postgres@127.0.0.1:1/none");
  let pool = good;
  const server = await startServer({
    name: "t",
    port: 0,
    logger: testLogger("t"),
    routes: () => {},
    ready: () => isDatabaseReady(pool, 500),
  });
  const health = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
  assert.is((await health.check({})).status, Status.SERVING);
  pool = bad;
  assert.is((await health.check({})).status, Status.NOT_SERVING);
  // Liveness does not follow the database: a restart would not bring it back.
  assert.is((await health.check({ service: LIVENESS_SERVICE })).status, Status.SERVING);
  await server.close();
  await Promise.all([good.end(), bad.end()]);
});

test("close() lets in-flight calls finish, refuses new ones, then releases resources", async () => {
  let released = false;
  let started = 0;
  const server = await startServer({
    name: "t",
    port: 0,
    logger: testLogger("t"),
    routes(router) {
      router.service(AuthService, {
        async getJwks() {
          started++;
          await sleep(400);
          return create(GetJwksResponseSchema, { keys: [{ kid: "slow" }] });
        },
      });
    },
    ready: async () => true,
    onClose: async () => {
      released = true;
    },
  });
  const client = createClient(AuthService, createGrpcTransport({ baseUrl: server.url }));
  const inFlight = client.getJwks({});
  while (started === 0) await sleep(5);
  const closing = server.close();
  const res = await inFlight;
  assert.is(res.keys[0]?.kid, "slow", "the in-flight call completed");
  await closing;
  assert.ok(released);
  const fresh = createClient(AuthService, createGrpcTransport({ baseUrl: server.url }));
  try {
    await fresh.getJwks({}, { timeoutMs: 1000 });
    assert.unreachable("a closed server takes no new calls");
  } catch (err) {
    assert.is(ConnectError.from(err).code, Code.Unavailable);
  }
});

/** A server answering GetJwks with its name, counting its calls in `served`. */
function startNamedServer(name: string, served: Record<string, number>, maxConnectionAgeMs?: number) {
  served[name] = 0;
  return startServer({
    name,
    port: 0,
    logger: testLogger(name),
    ready: async () => true,
    ...(maxConnectionAgeMs ? { maxConnectionAgeMs } : {}),
    routes(router) {
      router.service(AuthService, {
        async getJwks() {
          served[name]!++;
          await sleep(1);
          return create(GetJwksResponseSchema, { keys: [{ kid: name }] });
        },
      });
    },
  });
}

/** One address in front of several servers, as a Kubernetes Service is: each new connection goes to `target()`. */
async function startFront(target: () => number) {
  const front = net.createServer((client) => {
    const upstream = net.connect(target(), "127.0.0.1");
    client.pipe(upstream).pipe(client);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      a.on("error", () => b.destroy());
      a.on("close", () => b.destroy());
    }
  });
  await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(front.address() as net.AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => front.close(() => resolve())),
  };
}

/** `loops` callers making `call` one after another until `stop()`, which returns their failures. */
function callContinuously(loops: number, call: () => Promise<unknown>) {
  let running = true;
  let completed = 0;
  const failures: string[] = [];
  const all = Promise.all(
    Array.from({ length: loops }, async () => {
      while (running) {
        await call().then(
          () => completed++,
          (err) => failures.push(String(err)),
        );
      }
    }),
  );
  return {
    completed: () => completed,
    async stop() {
      running = false;
      await all;
      return failures;
    },
  };
}

/** GetJwks calls to `url` over the lean transport. */
const jwksCalls = (url: string) => {
  const client = createClient(AuthService, createLeanGrpcTransport({ baseUrl: url }));
  return () => client.getJwks({}, { timeoutMs: 5_000 });
};

/**
 * A rolling restart under 16 call loops: one server drains (GOAWAY, then its open calls
 * finish) while its successor takes its address; the calls must go on without a failure.
 */
async function rollingRestart(call: (url: string) => () => Promise<unknown>) {
  const served: Record<string, number> = {};
  const [old, successor] = await Promise.all([
    startNamedServer("old", served),
    startNamedServer("new", served),
  ]);
  let target = old.port;
  const front = await startFront(() => target);
  const calls = callContinuously(16, call(front.url));
  try {
    assert.ok(await until(() => calls.completed() >= 200, 10_000, 5));
    target = successor.port;
    const closing = performance.now();
    await old.close();
    const drained = performance.now() - closing;
    assert.ok(drained < 2_000, `the old server drained in ${drained.toFixed(0)} ms`);
    const after = calls.completed();
    assert.ok(
      await until(() => calls.completed() >= after + 200, 10_000, 5),
      "calls go on, to the successor",
    );
    assert.equal(await calls.stop(), []);
  } finally {
    await calls.stop();
    await successor.close();
    await front.close();
  }
}

test("a rolling restart: calls that cross a draining server's GOAWAY go to its successor, none fails", () =>
  rollingRestart(jwksCalls));

test("a rolling restart: server-streaming calls that cross a draining server's GOAWAY go to its successor, none fails", () =>
  rollingRestart((url) => {
    const health = createClient(Health, createLeanGrpcTransport({ baseUrl: url }));
    // Health.Watch: each call reads the first status (SERVING, or NOT_SERVING from a draining
    // server) and ends. connect's clients do not cancel a stream the caller stops reading: the signal does.
    return async () => {
      const done = new AbortController();
      try {
        for await (const _ of health.watch({}, { timeoutMs: 5_000, signal: done.signal })) break;
      } finally {
        done.abort();
      }
    };
  }));

test("connections are closed gracefully at their maximum age: callers reach replicas they were not connected to, no call fails", async () => {
  const served: Record<string, number> = {};
  const replicas = await Promise.all([
    startNamedServer("first", served, 150),
    startNamedServer("second", served, 150),
  ]);
  // The caller's first connection reaches the first replica; every later one, the second.
  let connections = 0;
  const front = await startFront(() => replicas[Math.min(connections++, 1)]!.port);
  const calls = callContinuously(8, jwksCalls(front.url));
  try {
    assert.ok(await until(() => served["second"]! >= 100, 3_000, 5), "the second replica gets calls");
    assert.equal(await calls.stop(), []);
    assert.ok(served["first"]! > 0);
  } finally {
    await calls.stop();
    await Promise.all(replicas.map((r) => r.close()));
    await front.close();
  }
});

test("a server stream its client cancelled does not hold close() until the drain timeout", async () => {
  const server = await startServer({
    name: "t",
    port: 0,
    logger: testLogger("t"),
    routes: () => {},
    ready: async () => true,
    drainTimeoutMs: 5000,
  });
  const health = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
  const abort = new AbortController();
  const stream = health.watch({}, { signal: abort.signal })[Symbol.asyncIterator]();
  assert.is((await stream.next()).value?.status, Status.SERVING);
  abort.abort();
  await stream.next().catch(() => undefined);
  await sleep(100);
  const started = performance.now();
  await server.close();
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 2000, `close() took ${elapsed.toFixed(0)} ms`);
});

/** A server with the slow- and idle-caller limits, as every service runs with them. */
function startLimitedServer(limits: Http2Limits) {
  return startServer({
    name: "t",
    port: 0,
    logger: testLogger("t"),
    routes: () => {},
    ready: async () => true,
    limits,
  });
}

/** Sends a request on `session`; resolves with its response headers, fails if it ends without or waits 5 s. */
function respond(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: Uint8Array,
  end: boolean,
) {
  return new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    const req = session.request({ ":method": "POST", ...headers });
    req.on("response", resolve);
    req.on("close", () => reject(new Error(`closed without an answer, code ${req.rstCode}`)));
    setTimeout(() => reject(new Error("no answer within 5 s")), 5000).unref();
    req.on("error", () => {});
    req.resume();
    if (end) req.end(body);
    else req.write(body);
  });
}

test("a request that stalls is refused after the request timeout (gRPC: DEADLINE_EXCEEDED; else 408); its connection keeps serving", async () => {
  const server = await startLimitedServer({ idleTimeoutMs: 0, requestTimeoutMs: 300 });
  const session = http2.connect(server.url);
  session.on("error", () => {});
  try {
    const started = performance.now();
    const at = (answer: Promise<http2.IncomingHttpHeaders>) =>
      answer.then((headers) => ({ headers, ms: performance.now() - started }));
    // Three bytes of a gRPC message's five-byte prefix, and never the rest.
    const grpcAnswer = at(
      respond(
        session,
        { ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", te: "trailers" },
        new Uint8Array(3),
        false,
      ),
    );
    await new Promise((r) => setTimeout(r, 150));
    // A second one, later: refused at its own deadline, not at the first one's.
    const jsonAnswer = at(
      respond(
        session,
        { ":path": "/grpc.health.v1.Health/Check", "content-type": "application/json" },
        Buffer.from('{"service":'),
        false,
      ),
    );
    const [{ headers: grpc, ms: grpcMs }, { headers: json, ms: jsonMs }] = await Promise.all([
      grpcAnswer,
      jsonAnswer,
    ]);
    assert.ok(grpcMs >= 250, `the first refused after ${grpcMs.toFixed(0)} ms, before the request timeout`);
    assert.ok(jsonMs >= 400, `the second refused after ${jsonMs.toFixed(0)} ms, before its request timeout`);
    assert.is(grpc["grpc-status"], "4");
    assert.match(String(grpc["grpc-message"]), /did not arrive within 300 ms/);
    assert.is(json[":status"], 408);
    // A whole request on the same connection is answered: an empty HealthCheckRequest, SERVING.
    const check = await respond(
      session,
      { ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", te: "trailers" },
      new Uint8Array(5),
      true,
    );
    assert.is(check[":status"], 200);
    assert.match(String(check["content-type"]), /^application\/grpc/);
    assert.is(session.closed, false);
  } finally {
    session.destroy();
    await server.close();
  }
});

test("a connection with no call in progress is closed after the idle timeout, a silent one too; one with a call in progress is not", async () => {
  const server = await startLimitedServer({ idleTimeoutMs: 250, requestTimeoutMs: 10_000 });
  const idle = http2.connect(server.url);
  const busy = http2.connect(server.url);
  const silent = net.connect(server.port, "127.0.0.1");
  const ended: Record<string, number> = {};
  const started = performance.now();
  idle.once("goaway", () => (ended["idle"] = performance.now() - started));
  busy.once("goaway", () => (ended["busy"] = performance.now() - started));
  silent.once("close", () => (ended["silent"] = performance.now() - started)).resume();
  for (const s of [idle, busy, silent]) s.on("error", () => {});
  try {
    // A server stream (Health.Watch) held open for three idle timeouts.
    const watch = busy.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Watch",
      "content-type": "application/grpc",
      te: "trailers",
    });
    watch.on("error", () => {});
    const first = new Promise<void>((resolve) => watch.once("data", () => resolve()));
    watch.end(new Uint8Array(5));
    await first;
    assert.ok(await until(() => "idle" in ended && "silent" in ended, 3_000, 5), JSON.stringify(ended));
    assert.ok(ended["idle"]! >= 200, `idle closed at ${ended["idle"]} ms`);
    assert.ok(ended["silent"]! >= 200, `silent closed at ${ended["silent"]} ms`);
    await sleep(750 - (performance.now() - started));
    assert.not.ok("busy" in ended, "a connection with a call in progress stays open");
    watch.close(http2.constants.NGHTTP2_CANCEL);
    const cancelled = performance.now() - started;
    assert.ok(await until(() => "busy" in ended, 3_000, 5), "closed once its call ended");
    assert.ok(ended["busy"]! - cancelled >= 200, "a full idle timeout after its last call");
  } finally {
    for (const s of [idle, busy, silent]) s.destroy();
    await server.close();
  }
});

test.run();
