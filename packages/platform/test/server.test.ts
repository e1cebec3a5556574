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
import { createLeanGrpcTransport, createPool, isDatabaseReady, startServer } from "../src/index.js";
import { createTestDatabase, testLogger } from "../src/testing/index.js";

const test = suite("platform: server lifecycle");

test("health reflects real database readiness", async () => {
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

/** Waits until `done()` holds, for at most `ms`; says whether it held. */
async function waitFor(done: () => boolean, ms = 10_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!done() && Date.now() < until) await sleep(5);
  return done();
}

/** `loops` callers calling GetJwks one after another until `stop()`, which returns their failures. */
function callContinuously(url: string, loops: number) {
  const client = createClient(AuthService, createLeanGrpcTransport({ baseUrl: url }));
  let running = true;
  const failures: string[] = [];
  const all = Promise.all(
    Array.from({ length: loops }, async () => {
      while (running) {
        await client.getJwks({}, { timeoutMs: 5_000 }).catch((err) => failures.push(String(err)));
      }
    }),
  );
  return {
    async stop() {
      running = false;
      await all;
      return failures;
    },
  };
}

test("a rolling restart: calls that cross a draining server's GOAWAY go to its successor, none fails", async () => {
  const served: Record<string, number> = {};
  const [old, successor] = await Promise.all([
    startNamedServer("old", served),
    startNamedServer("new", served),
  ]);
  let target = old.port;
  const front = await startFront(() => target);
  const calls = callContinuously(front.url, 16);
  try {
    assert.ok(await waitFor(() => served["old"]! >= 200));
    target = successor.port;
    await old.close(); // drains: GOAWAY, then the open calls finish
    const after = served["new"]!;
    assert.ok(await waitFor(() => served["new"]! >= after + 200));
    assert.equal(await calls.stop(), []);
  } finally {
    await calls.stop();
    await successor.close();
    await front.close();
  }
});

test("connections are closed gracefully at their maximum age: callers reach replicas they were not connected to, no call fails", async () => {
  const served: Record<string, number> = {};
  const replicas = await Promise.all([
    startNamedServer("first", served, 150),
    startNamedServer("second", served, 150),
  ]);
  // The caller's first connection reaches the first replica; every later one, the second.
  let connections = 0;
  const front = await startFront(() => replicas[Math.min(connections++, 1)]!.port);
  const calls = callContinuously(front.url, 8);
  try {
    assert.ok(await waitFor(() => served["second"]! >= 100, 3_000), "the second replica gets calls");
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

test.run();
