/**
 * The outbox relay without a short poll: recording an event wakes it at once
 * (the insert trigger's NOTIFY), a failed delivery is retried when its backoff
 * is due, and stop ends it promptly. Here the idle wait (`pollMs`) is a minute,
 * so each of these can only happen through the wake-ups. The whole-system
 * version (events reaching inboxes) is in gateway/test.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  createOutboxPublisher,
  createPool,
  enqueueAuditEntry,
  enqueueEvent,
  enqueueEvents,
  inTransaction,
  MAX_EVENT_USERS,
  migrate,
  type OutboxRecord,
  outboxMigrations,
  type Sql,
  startOutboxRelay,
} from "../src/index.js";
import { createTestDatabase, testLogger, until } from "../src/testing/index.js";

const test = suite<{ sql: Sql }>("platform: outbox relay");
test.before(async (ctx) => {
  ctx.sql = createPool(await createTestDatabase("outbox"), { max: 4 });
  await migrate(ctx.sql, [outboxMigrations], testLogger("outbox"));
});
test.after(async (ctx) => {
  await ctx.sql.end({ timeout: 1 });
});

const event = { type: "WELCOME" as const, recipients: { userIds: ["u1"] }, data: { first_name: "Ada" } };

test("an idle relay does not poll: a few queries at start, then none", async ({ sql }) => {
  let queries = 0;
  // Counts the relay's statements (tagged-template calls); everything else passes through.
  const counted = new Proxy(sql, {
    apply: (target, self, args) => {
      queries++;
      return Reflect.apply(target, self, args);
    },
  });
  const relay = startOutboxRelay({
    service: "test",
    sql: counted,
    logger: testLogger("relay"),
    pollMs: 60_000,
    publish: async () => {},
  });
  try {
    await sleep(500); // the first pass, and the one its LISTEN's start wakes
    const settled = queries;
    assert.ok(settled >= 2 && settled <= 6, `queries at start: ${settled}`);
    await sleep(1_000);
    assert.is(queries, settled, "no query while idle");
  } finally {
    await relay.stop();
  }
});

test("an event recorded in a transaction is relayed on commit, not at the next poll", async ({ sql }) => {
  const published: OutboxRecord[] = [];
  const relay = startOutboxRelay({
    service: "test",
    sql,
    logger: testLogger("relay"),
    pollMs: 60_000,
    publish: async (e) => {
      published.push(e);
    },
  });
  try {
    await sleep(200); // the relay's first pass found nothing: it now waits up to a minute
    const id = await inTransaction(sql, async (tx) => {
      const id = await enqueueEvent(tx, event);
      await sleep(100);
      return id;
    });
    assert.ok(await until(() => published.length === 1, 10_000, 20), "relayed long before the minute");
    assert.is(published[0]?.id, id);
    assert.equal(published[0]?.data, event.data);
    const marked = async () =>
      (await sql`select published_at from outbox where id = ${id}`)[0]?.["published_at"];
    for (let i = 0; i < 50 && !(await marked()); i++) await sleep(20);
    assert.instance(await marked(), Date, "marked published");
  } finally {
    await relay.stop();
  }
});

test("a failed delivery is retried when its backoff is due; stop is prompt", async ({ sql }) => {
  const attempts: number[] = [];
  const relay = startOutboxRelay({
    service: "test",
    sql,
    logger: testLogger("relay"),
    pollMs: 60_000,
    baseDelayMs: 300,
    publish: async (e) => {
      attempts.push(e.attempts);
      if (e.attempts === 1) throw new Error("notifications service unavailable");
    },
  });
  try {
    await enqueueEvent(sql, event);
    assert.ok(await until(() => attempts.length >= 2, 10_000, 20), `attempts: ${attempts.join(",")}`);
    assert.equal(attempts.slice(0, 2), [1, 2]);
  } finally {
    const stopping = performance.now();
    await relay.stop();
    assert.ok(performance.now() - stopping < 2_000, "stopped without waiting for the minute");
  }
  const [row] = await sql`select count(*)::int as pending from outbox where published_at is null`;
  assert.is(row?.["pending"], 0);
});

test("published rows are deleted once past the retention; unpublished and recent ones stay", async ({
  sql,
}) => {
  const day = 86_400_000;
  const ids = {
    old: await enqueueEvent(sql, event),
    recent: await enqueueEvent(sql, event),
    stuck: await enqueueEvent(sql, event),
  };
  await sql`update outbox set published_at = now() - interval '8 days' where id = ${ids.old}`;
  await sql`update outbox set published_at = now() - interval '6 days' where id = ${ids.recent}`;
  // Never delivered (its attempts are not due for a day), recorded long ago: it must stay.
  await sql`update outbox set created_at = now() - interval '30 days', next_attempt_at = now() + interval '1 day'
            where id = ${ids.stuck}`;
  const relay = startOutboxRelay({
    service: "test",
    sql,
    logger: testLogger("relay"),
    pollMs: 60_000,
    retentionMs: 7 * day,
    publish: async () => {},
  });
  try {
    const left = async () =>
      (await sql<{ id: string }[]>`select id from outbox where id = any(${Object.values(ids)}::uuid[])`).map(
        (r) => r.id,
      );
    for (let i = 0; i < 100 && (await left()).includes(ids.old); i++) await sleep(20);
    assert.equal((await left()).sort(), [ids.recent, ids.stuck].sort());
  } finally {
    await relay.stop();
  }
});

test("an audit entry is recorded as its own kind, and kept while no admin service can take it", async ({
  sql,
}) => {
  const id = await enqueueAuditEntry(sql, {
    adminId: "a1",
    action: "user.block",
    resourceType: "user",
    resourceId: "u1",
    before: null,
    after: { active: false },
  });
  const [row] = await sql<{ event_type: string; data: Record<string, string> }[]>`
    select event_type, data from outbox where id = ${id}`;
  assert.is(row!.event_type, "AUDIT_ENTRY");
  assert.equal([row!.data["before"], row!.data["after"]], ["null", '{"active":false}']);
  // Nothing listens on port 1: an audit entry must not go there, nor anywhere else.
  const publish = createOutboxPublisher({
    notifications: "http://127.0.0.1:1",
    admin: undefined,
    serviceToken: "t",
  });
  const refused = await publish({
    id,
    type: "AUDIT_ENTRY",
    recipients: {},
    data: row!.data,
    attempts: 1,
  }).then(
    () => undefined,
    (err: Error) => err,
  );
  assert.match(refused?.message ?? "", "no admin service");
  await sql`delete from outbox where id = ${id}`;
});

test("many events in one statement; one naming more users than an event may is recorded in parts", async ({
  sql,
}) => {
  const many = Array.from({ length: 2 * MAX_EVENT_USERS + 1 }, (_, i) => `user-${i}`);
  const marker = `batch-${Date.now()}`;
  const rows = async () =>
    (
      await sql<
        { event_type: string; recipients: { userIds?: string[]; courseId?: string }; data: object }[]
      >`
        select event_type, recipients, data from outbox where data->>'marker' = ${marker}`
    ).map((r) => ({ ...r }));
  try {
    await enqueueEvents(sql, []);
    // Recorded with the transaction, or not at all.
    await inTransaction(sql, async (tx) => {
      await enqueueEvents(tx, [{ ...event, data: { marker } }]);
      throw new Error("rolled back");
    }).catch(() => undefined);
    assert.equal(await rows(), []);
    await inTransaction(sql, (tx) =>
      enqueueEvents(tx, [
        { type: "COURSE_FINISHED", recipients: { userIds: ["a"] }, data: { marker, final_grade: "85.5" } },
        { type: "COURSE_FINISHED", recipients: { userIds: many, courseId: "c2" }, data: { marker } },
        {
          type: "COURSE_REOPENED",
          recipients: { courseId: "c1" },
          data: { marker, course_title: 'Say "hi"' },
        },
      ]),
    );
    const recorded = await rows();
    assert.equal(
      recorded.map((r) => [r.event_type, r.recipients.userIds?.length ?? r.recipients.courseId]).sort(),
      [
        ["COURSE_FINISHED", 1],
        ["COURSE_FINISHED", 1],
        ["COURSE_FINISHED", MAX_EVENT_USERS],
        ["COURSE_FINISHED", MAX_EVENT_USERS],
        ["COURSE_REOPENED", "c1"],
      ].sort(),
    );
    const parts = recorded.filter(
      (r) => r.event_type === "COURSE_FINISHED" && !r.recipients.userIds?.includes("a"),
    );
    assert.equal(parts.flatMap((r) => r.recipients.userIds!).sort(), [...many].sort(), "every user once");
    assert.equal(
      parts
        .filter((r) => r.recipients.courseId !== undefined)
        .map((r) => [r.recipients.courseId, r.recipients.userIds![0]]),
      [["c2", "user-0"]],
      "the course's students are named once, in the first part",
    );
    assert.ok(
      recorded.some((r) => JSON.stringify(r.data) === JSON.stringify({ marker, final_grade: "85.5" })),
    );
    assert.ok(recorded.some((r) => (r.data as Record<string, string>)["course_title"] === 'Say "hi"'));
  } finally {
    await sql`delete from outbox where data->>'marker' = ${marker}`;
  }
});

test.run();
