/**
 * The notifications service killed (SIGKILL, as a separate process) in the
 * middle of a fan-out to 1,500 users, then started again: every user gets
 * exactly one inbox item, no e-mail goes out twice, and every e-mail delivery
 * ends either sent or logged as failed with its reason — none vanishes.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { type System, startSystem } from "@classconnect/gateway/testing";
import { DispatchService } from "@classconnect/gen/classconnect/notifications/v1/dispatch_service_pb.js";
import { EventType } from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "@classconnect/gen/grpc/health/v1/health_pb.js";
import { createServiceClient, freePort } from "@classconnect/platform";
import { createTestDatabase, TEST_SERVICE_TOKEN } from "@classconnect/platform/testing";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type FakeBrevo, startFakeBrevo } from "./fake-brevo.js";

const USERS = 1500;
const test = suite<{ sys: System; brevo: FakeBrevo; child?: ChildProcess }>(
  "reliability: notifications killed mid-fan-out",
);
test.before(async (ctx) => {
  ctx.sys = await startSystem();
  ctx.brevo = await startFakeBrevo();
});
test.after(async (ctx) => {
  ctx.child?.kill("SIGKILL");
  await ctx.sys?.close();
  await ctx.brevo.close();
});

async function startChild(env: NodeJS.ProcessEnv, url: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "services/notifications/src/main.ts"], {
    env,
    stdio: "ignore",
  });
  const health = createClient(Health, createGrpcTransport({ baseUrl: url }));
  for (let i = 0; i < 200; i++) {
    try {
      if ((await health.check({}, { timeoutMs: 500 })).status === HealthCheckResponse_ServingStatus.SERVING)
        return child;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the notifications process did not become healthy");
}

test("after a SIGKILL and a restart: one inbox item each, no duplicate e-mail, nothing unaccounted for", async (ctx) => {
  const { sys, brevo } = ctx;
  const users = postgres(sys.databases.users, { max: 1, onnotice: () => {} });
  const tag = randomUUID().slice(0, 8);
  await users`
    insert into users (id, email, first_name, last_name, notifications_opt_in, email_verified)
    select gen_random_uuid(), ${tag} || '-' || i || '@crash.test', 'C', 'R', true, true from generate_series(1, ${USERS}) as i`;
  const everyone = Number((await users`select count(*) from users`)[0]!["count"]);
  await users.end();

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const database = await createTestDatabase("crash_notifications");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LOG_LEVEL: "error",
    NOTIFICATIONS_PORT: String(port),
    NOTIFICATIONS_DATABASE_URL: database,
    SERVICE_TOKEN: TEST_SERVICE_TOKEN,
    USERS_SERVICE_URL: sys.urls.users,
    COURSES_SERVICE_URL: sys.urls.courses,
    BREVO_API_KEY: "xkeysib-crash",
    BREVO_BASE_URL: brevo.baseUrl,
    NOTIFY_LEASE_MS: "500",
    NOTIFY_RETRY_BASE_MS: "20",
  };
  brevo.delayMs = 60;
  ctx.child = await startChild(env, url);
  const eventId = randomUUID();
  await createServiceClient(DispatchService, url, TEST_SERVICE_TOKEN).publishEvent({
    eventId,
    eventType: EventType.RULE_PUBLISHED,
    recipients: { allUsers: true },
    data: { rule_title: `Crash ${tag}` },
  });
  const ours = () =>
    brevo.calls.filter((c) =>
      c.body.messageVersions?.some((v) => v.subject?.startsWith("New platform rule")),
    );
  while (ours().length < 3) await new Promise((r) => setTimeout(r, 10));
  ctx.child.kill("SIGKILL");
  await new Promise((r) => ctx.child!.once("exit", r));
  const beforeRestart = ours().length;
  ctx.child = await startChild(env, url);

  const db = postgres(database, { max: 1, onnotice: () => {} });
  try {
    for (let i = 0; ; i++) {
      const [row] = await db<{ settled: number }[]>`
        select count(*)::int as settled from deliveries where event_id = ${eventId} and channel = 2 and status in (1, 3)`;
      if (row!.settled === everyone) break;
      if (i > 600) assert.unreachable(`only ${row!.settled} of ${everyone} e-mails settled`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const [inbox] = await db<{ items: number; people: number }[]>`
      select count(*)::int as items, count(distinct user_id)::int as people from inbox where event_id = ${eventId}`;
    assert.equal([inbox!.items, inbox!.people], [everyone, everyone], "exactly one inbox item per user");
    const delivered = ours()
      .filter((c) => c.status < 300)
      .flatMap((c) => c.body.messageVersions!.map((v) => v.to[0]!.email));
    assert.is(new Set(delivered).size, delivered.length, "no e-mail sent twice");
    const [counts] = await db<{ sent: number; unknown: number }[]>`
      select count(*) filter (where status = 1)::int as sent,
             count(*) filter (where status = 3 and reason like 'outcome unknown%')::int as unknown
      from deliveries where event_id = ${eventId} and channel = 2`;
    assert.is(counts!.sent + counts!.unknown, everyone, "every e-mail sent or logged as unknown");
    assert.ok(delivered.length >= counts!.sent, "everything logged as sent reached the provider");
    assert.ok(counts!.unknown <= 100, `at most the batch in flight is unknown (${counts!.unknown})`);
    assert.ok(ours().length > beforeRestart, "the restarted service finished the fan-out");
  } finally {
    await db.end();
  }
});

test.run();
