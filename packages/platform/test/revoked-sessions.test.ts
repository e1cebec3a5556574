/**
 * The revoked-session set every service keeps by long-polling the users
 * service: each call asks from a little before the previous read and says how
 * many of those sessions it holds, a failed call is retried from the same point
 * (so nothing revoked during an outage is missed), sessions are forgotten once
 * their last token has expired, and close ends a held call and the loop. `fetch` plays the users service here so that it can fail on
 * purpose; the real one is exercised by gateway/test/revocation.test.ts.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createLogger, type FetchRevokedSessions, trackRevokedSessions } from "../src/index.js";
import { testLogger } from "../src/testing/index.js";

const test = suite("platform: revoked sessions");

test("polls from just before the last read, retries failures from the same point, forgets expired sessions", async () => {
  let clock = 1_000_000;
  const asked: (number | undefined)[] = [];
  const answers: (() => Awaited<ReturnType<FetchRevokedSessions>>)[] = [
    () => ({
      readAt: new Date(clock),
      sessions: [{ sessionId: "a", revokedAt: new Date(clock - 1_000), expiresAt: new Date(clock + 60_000) }],
    }),
    () => {
      throw new Error("users service unavailable");
    },
    () => ({
      readAt: new Date(clock),
      sessions: [
        { sessionId: "b", revokedAt: new Date(clock - 1_000), expiresAt: new Date(clock + 120_000) },
      ],
    }),
  ];
  const fetch: FetchRevokedSessions = async (since) => {
    asked.push(since?.getTime());
    const answer = answers.shift() ?? (() => ({ readAt: new Date(clock), sessions: [] }));
    return answer();
  };
  const revoked = trackRevokedSessions(fetch, testLogger("revoked"), { pollMs: 5, now: () => clock });
  for (let i = 0; i < 200 && asked.length < 4; i++) await sleep(5);
  assert.equal(asked.slice(0, 4), [undefined, clock - 5_000, clock - 5_000, clock - 5_000]);
  assert.ok(revoked.isRevoked("a"));
  assert.ok(revoked.isRevoked("b"), "the poll after the failure caught up");
  assert.not.ok(revoked.isRevoked("c"));
  assert.throws(
    () => revoked.assertLive("a"),
    (e: Error & { reason?: string }) => e.reason === "SESSION_INACTIVE",
  );
  revoked.assertLive("c");
  clock += 90_000;
  assert.not.ok(revoked.isRevoked("a"), "every token of a has expired: forgotten");
  assert.ok(revoked.isRevoked("b"));
  await revoked.close();
  const polls = asked.length;
  await sleep(30);
  assert.is(asked.length, polls, "no poll after close");
});

test("a list out of reach is warned about only after 10 s (services start one after another), then each minute; its return once", async () => {
  let clock = 0;
  let failing = true;
  let calls = 0;
  const fetch: FetchRevokedSessions = async () => {
    calls++;
    clock += 2_000; // each failed call "takes" two seconds of the fake clock
    if (failing) throw new Error("admin service not up yet");
    return { readAt: new Date(clock), sessions: [] };
  };
  const lines: { level: string; msg: string }[] = [];
  const logger = createLogger("revoked", "info", {
    write: (line: string) => void lines.push(JSON.parse(line)),
  });
  const revoked = trackRevokedSessions(fetch, logger, {
    pollMs: 1,
    waitMs: 0,
    now: () => clock,
    name: "feed",
  });
  for (let i = 0; i < 500 && clock < 80_000; i++) await sleep(1);
  failing = false;
  const failed = calls;
  for (let i = 0; i < 500 && lines.length < 3; i++) await sleep(1);
  await revoked.close();
  // 2, 4, ... s of failures: the first warning at 10 s, the next at 70 s; nothing before.
  assert.ok(failed >= 40, `${failed} failed calls`);
  assert.equal(
    lines.map((l) => [l.level, l.msg]),
    [
      ["warn", "feed has failed for 10 s; retrying"],
      ["warn", "feed has failed for 70 s; retrying"],
      ["info", "feed recovered"],
    ],
  );
});

test("long polls: says how many it holds, asks again at once after news or a held call, and ends a held call on close", async () => {
  const t0 = Date.now();
  const asked: { since?: number; known: number; waitMs: number }[] = [];
  let release: (() => void) | undefined;
  const fetch: FetchRevokedSessions = async (since, { known, waitMs, signal }) => {
    asked.push({ ...(since ? { since: since.getTime() } : {}), known, waitMs });
    const readAt = new Date(t0 + 10_000 * asked.length);
    if (asked.length === 1) {
      // Two sessions: one revoked long before the next call's window, one inside it.
      return {
        readAt,
        sessions: [
          { sessionId: "old", revokedAt: new Date(t0 - 60_000), expiresAt: new Date(t0 + 900_000) },
          { sessionId: "new", revokedAt: new Date(t0 + 9_000), expiresAt: new Date(t0 + 900_000) },
        ],
      };
    }
    // Held, as the users service holds it, until the loop is closed.
    await new Promise<void>((resolve) => {
      release = resolve;
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    throw signal.reason;
  };
  const revoked = trackRevokedSessions(fetch, testLogger("revoked"), { pollMs: 60_000, waitMs: 20_000 });
  for (let i = 0; i < 100 && asked.length < 2; i++) await sleep(5);
  // News, so the second call went out at once (pollMs is a minute), holding 1 of the listed sessions.
  assert.equal(asked, [
    { known: 0, waitMs: 20_000 },
    { since: t0 + 10_000 - 5_000, known: 1, waitMs: 20_000 },
  ]);
  assert.ok(revoked.isRevoked("old") && revoked.isRevoked("new"));
  assert.ok(release, "the second call is held");
  const closing = performance.now();
  await revoked.close();
  assert.ok(performance.now() - closing < 1_000, "close ended the held call");
  assert.is(asked.length, 2);
});

test("a users service that answers at once with nothing new is asked every pollMs, not in a tight loop", async () => {
  let calls = 0;
  const fetch: FetchRevokedSessions = async () => {
    calls++;
    return { readAt: new Date(), sessions: [] };
  };
  const revoked = trackRevokedSessions(fetch, testLogger("revoked"), { pollMs: 50 });
  await sleep(300);
  await revoked.close();
  assert.ok(calls >= 3 && calls <= 8, `calls in 300 ms: ${calls}`);
});

test.run();
