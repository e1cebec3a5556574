/**
 * The revoked-session set every service keeps by polling the users service:
 * each poll asks from a little before the previous read, a failed poll is
 * retried from the same point (so nothing revoked during an outage is missed),
 * sessions are forgotten once their last token has expired, and close stops
 * the polling. `fetch` plays the users service here so that it can fail on
 * purpose; the real one is exercised by gateway/test/revocation.test.ts.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type FetchRevokedSessions, trackRevokedSessions } from "../src/index.js";
import { testLogger } from "../src/testing/index.js";

const test = suite("platform: revoked sessions");

test("polls from just before the last read, retries failures from the same point, forgets expired sessions", async () => {
  let clock = 1_000_000;
  const asked: (number | undefined)[] = [];
  const answers: (() => Awaited<ReturnType<FetchRevokedSessions>>)[] = [
    () => ({ readAt: new Date(clock), sessions: [{ sessionId: "a", expiresAt: new Date(clock + 60_000) }] }),
    () => {
      throw new Error("users service unavailable");
    },
    () => ({ readAt: new Date(clock), sessions: [{ sessionId: "b", expiresAt: new Date(clock + 120_000) }] }),
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

test.run();
