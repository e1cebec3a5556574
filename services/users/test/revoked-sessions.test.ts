/**
 * ListRevokedSessions as a long poll: while the list holds exactly the sessions
 * the caller says it has, the call waits for the next revocation (a trigger's
 * NOTIFY, so any replica's) or for `wait`; a draining server answers held calls
 * at once so that it can stop.
 */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { invalid, rejects } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import { decodeJwt } from "jose";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startUsersHarness, type UsersHarness } from "./harness.js";

const test = suite<{ h: UsersHarness }>("users: revoked sessions, long polling");
test.before(async (ctx) => {
  ctx.h = await startUsersHarness();
});
test.after(async (ctx) => {
  await ctx.h.close();
});

/** Settles to "held" if `call` has not answered after `ms`. */
const within = <T>(call: Promise<T>, ms: number) =>
  Promise.race([call, new Promise<"held">((resolve) => setTimeout(() => resolve("held"), ms))]);

test("a held call answers as soon as a session is revoked, listing it", async ({ h }) => {
  const user = await h.register();
  const before = await h.auth.listRevokedSessions({}, h.service);
  const held = h.auth.listRevokedSessions(
    { wait: durationFromMs(20_000), known: before.sessions.length },
    h.service,
  );
  assert.is(await within(held, 500), "held", "nothing new: the call waits");
  await h.auth.logout({ refreshToken: user.refreshToken }, h.bearer(user.accessToken));
  // Answered on the revocation, long before its 20 s wait.
  const answer = await within(held, 10_000);
  assert.ok(answer !== "held", "the logout woke the held call");
  const sid = decodeJwt(user.accessToken)["sid"];
  assert.ok(
    answer.sessions.some((s) => s.sessionId === sid),
    "the ended session is listed",
  );
  assert.is(answer.sessions.length, before.sessions.length + 1);
});

test("a caller that holds a different number of sessions is answered at once", async ({ h }) => {
  const now = await h.auth.listRevokedSessions({}, h.service);
  const answer = await within(
    h.auth.listRevokedSessions({ wait: durationFromMs(20_000), known: now.sessions.length + 1 }, h.service),
    5_000,
  );
  assert.ok(answer !== "held");
  assert.is(answer.sessions.length, now.sessions.length);
});

test("bad waits are refused; the method stays internal", async ({ h }) => {
  await invalid(h.auth.listRevokedSessions({ wait: durationFromMs(61_000) }, h.service), ["wait"]);
  await invalid(h.auth.listRevokedSessions({ wait: { seconds: -1n, nanos: 0 } }, h.service), ["wait"]);
  const user = await h.register();
  await rejects(
    h.auth.listRevokedSessions({ wait: durationFromMs(1_000) }, h.bearer(user.accessToken)),
    Code.PermissionDenied,
  );
  await rejects(h.auth.listRevokedSessions({ wait: durationFromMs(1_000) }), Code.Unauthenticated);
});

// Last: it stops the server.
test("a draining server answers held calls at once and stops", async ({ h }) => {
  const now = await h.auth.listRevokedSessions({}, h.service);
  const held = h.auth.listRevokedSessions(
    { wait: durationFromMs(30_000), known: now.sessions.length },
    h.service,
  );
  assert.is(await within(held, 300), "held");
  const stopping = performance.now();
  await h.server.close();
  const answer = await within(held, 1_000);
  assert.ok(answer !== "held", "answered on drain");
  assert.is(answer.sessions.length, now.sessions.length);
  // Well inside the 10 s drain timeout: the held call did not hold the stop.
  assert.ok(
    performance.now() - stopping < 5_000,
    `stopped in ${Math.round(performance.now() - stopping)} ms`,
  );
});

test.run();
