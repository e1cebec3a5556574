/**
 * The dispatcher's push path with a push port that reports results the way
 * FCM does (a test double: FCM cannot be reached from here): multicasts are
 * batched by the sender's batch size, tokens FCM calls unregistered are
 * removed and their deliveries logged as failed, transient failures retried.
 */
import { randomUUID } from "node:crypto";
import { createPool, migrate } from "@classconnect/platform";
import { createTestDatabase, testLogger } from "@classconnect/platform/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { migrationsDir } from "../src/app.js";
import { createDispatcher } from "../src/domain/dispatcher.js";
import type { Directory } from "../src/ports/directory.js";
import { createMailbox } from "../src/ports/email.js";
import type { PushMessage, PushResult, PushSender } from "../src/ports/push.js";
import { createPostgresNotificationsStore } from "../src/store/postgres-store.js";
import { Channel, DeliveryStatus } from "../src/store/store.js";

const test = suite("notifications: push delivery");

/** Every id is an opted-in, active user with a confirmed address. */
const directoryOf = (): Directory => ({
  contacts: async (ids) =>
    ids.map((userId) => ({
      userId,
      email: `${userId}@x.test`,
      firstName: "P",
      optIn: true,
      active: true,
      emailVerified: true,
    })),
  async *allUsers() {},
  async *courseStudents() {},
});

test("batches of the sender's size; dead tokens removed; transient failures retried once then sent", async () => {
  const sql = createPool(await createTestDatabase("dispatch"));
  await migrate(sql, migrationsDir, testLogger("dispatch"));
  const store = createPostgresNotificationsStore(sql);
  const users = Array.from({ length: 7 }, () => randomUUID());
  const directory = directoryOf();
  for (const [i, u] of users.entries()) await store.upsertDevice(u, `token-${i}`, 1);
  const calls: string[][] = [];
  let flaky = true;
  const push: PushSender = {
    batchSize: 3,
    async sendMulticast(tokens: string[], _m: PushMessage): Promise<PushResult[]> {
      calls.push(tokens);
      return tokens.map((t) => {
        if (t === "token-0")
          return {
            ok: false,
            retryable: false,
            invalidToken: true,
            reason: "messaging/registration-token-not-registered",
          };
        if (t === "token-1" && flaky) {
          flaky = false;
          return { ok: false, retryable: true, invalidToken: false, reason: "messaging/internal-error" };
        }
        return { ok: true };
      });
    },
  };
  const dispatcher = createDispatcher({
    store,
    directory,
    email: createMailbox(testLogger("dispatch")),
    push,
    logger: testLogger("dispatch"),
    retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 5, leaseMs: 10_000, pollMs: 10 },
  });
  try {
    const eventId = randomUUID();
    await store.insertEvent({
      id: eventId,
      type: "ASSESSMENT_PUBLISHED",
      recipients: { userIds: users },
      data: { assessment_title: "T" },
      system: false,
    });
    for (let i = 0; i < 20 && (await dispatcher.runOnce()); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(
      calls.slice(0, 3).every((c) => c.length <= 3),
      "multicasts no larger than the sender's batch",
    );
    assert.equal(calls.slice(0, 3).flat().sort(), users.map((_, i) => `token-${i}`).sort());
    assert.equal(calls.slice(3), [["token-1"]], "the transient failure retried alone");
    const pushes = await store.listDeliveries({ channel: Channel.PUSH }, 100);
    const byToken = new Map(pushes.map((d) => [d.address, d]));
    assert.equal(
      [byToken.get("token-0")?.status, byToken.get("token-0")?.reason],
      [DeliveryStatus.FAILED, "messaging/registration-token-not-registered"],
    );
    assert.equal(
      [byToken.get("token-1")?.status, byToken.get("token-1")?.attempts],
      [DeliveryStatus.SENT, 2],
    );
    assert.is(pushes.filter((d) => d.status === DeliveryStatus.SENT).length, 6);
    assert.equal(await store.devicesOf([users[0]!]), [], "the dead token was removed");
    assert.is((await store.devicesOf([users[1]!])).length, 1);
  } finally {
    await dispatcher.stop();
    await sql.end();
  }
});

test("running, it sleeps until a retry is due (not a short poll), and wake() starts it at once", async () => {
  const sql = createPool(await createTestDatabase("dispatch"));
  await migrate(sql, migrationsDir, testLogger("dispatch"));
  const store = createPostgresNotificationsStore(sql);
  let dueQueries = 0;
  const counted = {
    ...store,
    nextDueInMs: () => {
      dueQueries++;
      return store.nextDueInMs();
    },
  };
  const user = randomUUID();
  await store.upsertDevice(user, "token-r", 1);
  const sent: number[] = [];
  const push: PushSender = {
    batchSize: 10,
    async sendMulticast(tokens: string[]): Promise<PushResult[]> {
      sent.push(performance.now());
      // The first attempt fails transiently; the retry (backoff 300 ms) is sent.
      return tokens.map(() =>
        sent.length === 1
          ? { ok: false, retryable: true, invalidToken: false, reason: "messaging/internal-error" }
          : { ok: true },
      );
    },
  };
  const dispatcher = createDispatcher({
    store: counted,
    directory: directoryOf(),
    email: createMailbox(testLogger("dispatch")),
    push,
    logger: testLogger("dispatch"),
    // A minute's idle wait: anything sooner comes from wake() or a due retry.
    retry: { baseDelayMs: 300, maxDelayMs: 300, maxAttempts: 5, leaseMs: 10_000, pollMs: 60_000 },
  });
  dispatcher.start();
  try {
    await new Promise((r) => setTimeout(r, 300));
    const idle = dueQueries;
    await new Promise((r) => setTimeout(r, 700));
    assert.is(dueQueries, idle, "idle with nothing due: no further queries");
    await store.insertEvent({
      id: randomUUID(),
      type: "ASSESSMENT_PUBLISHED",
      recipients: { userIds: [user] },
      data: { assessment_title: "T" },
      system: false,
    });
    dispatcher.wake();
    for (let i = 0; i < 250 && sent.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.is(sent.length, 2, "sent, failed, and retried within seconds, not after the minute");
    assert.ok(sent[1]! - sent[0]! >= 200, "the retry waited for its backoff");
  } finally {
    await dispatcher.stop();
    await sql.end();
  }
});

test.run();
