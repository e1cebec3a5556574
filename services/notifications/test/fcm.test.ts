/**
 * The FCM push adapter runs the real firebase-admin SDK (message building,
 * OAuth header from the credential, the v1 send request, response and error
 * parsing, its own retry of 503) against a loopback HTTPS server that answers
 * as fcm.googleapis.com does, since Google cannot be reached from here. The
 * credential is the SDK's custom-credential interface returning a fixed access
 * token; the transport is the SDK's HTTP/1.1 one (see createFcmSender).
 */
import { type LoopbackHttpsHost, startLoopbackHttpsHost } from "@classconnect/platform/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createFcmSender } from "../src/ports/fcm.js";
import { type FakeFcm, startFakeFcm } from "./fake-fcm.js";

const test = suite<{ fcm: FakeFcm }>("notifications: push through firebase-admin");
test.before(async (ctx) => {
  ctx.fcm = await startFakeFcm();
});
test.after(async (ctx) => {
  await ctx.fcm?.close();
});

test("a multicast: sent, dead tokens reported for removal, bad payloads not retried, overload retried", async (ctx) => {
  const sender = createFcmSender({
    projectId: "classconnect-test",
    credential: ctx.fcm.credential,
    httpAgent: ctx.fcm.agent,
  });
  try {
    const tokens = ["ok-1", "dead-1", "bad-1", "busy-1", "flaky-1", "ok-2"];
    const results = await sender.sendMulticast(tokens, {
      title: "Enrolled",
      body: "You are enrolled in Algebra",
      link: "classconnect://courses/42",
    });
    assert.equal(results, [
      { ok: true },
      {
        ok: false,
        invalidToken: true,
        retryable: false,
        reason: "messaging/registration-token-not-registered",
      },
      { ok: false, invalidToken: false, retryable: false, reason: "messaging/invalid-argument" },
      { ok: false, invalidToken: false, retryable: true, reason: "messaging/message-rate-exceeded" },
      // The SDK retried the 503 by itself; the second answer was 200.
      { ok: true },
      { ok: true },
    ]);
    // One request per token (and one more for the retried 503), each as FCM v1 expects it.
    assert.is(ctx.fcm.received.length, tokens.length + 1);
    assert.equal(ctx.fcm.received.filter((r) => r.message.token === "flaky-1").length, 2);
    for (const r of ctx.fcm.received) {
      assert.is(r.path, "/v1/projects/classconnect-test/messages:send");
      assert.is(r.authorization, `Bearer ${ctx.fcm.accessToken}`);
      assert.equal(r.message.notification, { title: "Enrolled", body: "You are enrolled in Algebra" });
      assert.equal(r.message.data, { link: "classconnect://courses/42" });
    }
    assert.equal(new Set(ctx.fcm.received.map((r) => r.message.token)), new Set(tokens));
  } finally {
    await sender.close();
  }
});

test("an unreachable FCM fails every token as retryable, none as dead", async () => {
  const unreachable: LoopbackHttpsHost = await startLoopbackHttpsHost("fcm.googleapis.com", (req) =>
    req.socket.destroy(),
  );
  const sender = createFcmSender({
    projectId: "classconnect-test",
    credential: { getAccessToken: async () => ({ access_token: "t", expires_in: 3600 }) },
    httpAgent: unreachable.agent,
  });
  try {
    const results = await sender.sendMulticast(["a", "b"], { title: "t", body: "b", link: "l" });
    assert.is(results.length, 2);
    for (const r of results) {
      assert.is(r.ok, false);
      if (!r.ok) {
        assert.is(r.retryable, true, r.reason);
        assert.is(r.invalidToken, false);
      }
    }
  } finally {
    await sender.close();
    await unreachable.close();
  }
});

test.run();
