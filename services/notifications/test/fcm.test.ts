/**
 * The FCM push adapter runs the real firebase-admin SDK (message building,
 * OAuth header from the credential, the v1 send request, response and error
 * parsing, its own retry of 503) against a loopback HTTPS server that answers
 * as fcm.googleapis.com does, since Google cannot be reached from here. The
 * first tests use the SDK's custom-credential interface with a fixed access
 * token; the last ones configure the sender as the service does, from a
 * service-account file, and the loopback oauth2.googleapis.com checks the
 * SDK's signed grant. The transport is the SDK's HTTP/1.1 one (see createFcmSender).
 */

import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type LoopbackHttpsHost,
  startLoopbackHttpsHost,
  TEST_SERVICE_TOKEN,
} from "@classconnect/platform/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readNotificationsConfig } from "../src/config.js";
import { createFcmSender, fcmSenderFromConfig } from "../src/ports/fcm.js";
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

/** The service's configuration with `env` (and what it always needs). */
const configured = (env: Record<string, string>) =>
  readNotificationsConfig({
    NOTIFICATIONS_DATABASE_URL: "postgres://127.0.0.1:1/unused",
    SERVICE_TOKEN: TEST_SERVICE_TOKEN,
    ...env,
  });

/** A sender configured from a service-account file with these contents. */
async function senderWithAccount(ctx: { fcm: FakeFcm }, account: object) {
  const dir = await mkdtemp(join(tmpdir(), "classconnect-fcm-"));
  const file = join(dir, "service-account.json");
  await writeFile(file, JSON.stringify(account));
  const sender = fcmSenderFromConfig(
    configured({ FIREBASE_PROJECT_ID: "classconnect-test", FIREBASE_CREDENTIALS_FILE: file }),
    ctx.fcm.agent,
  )!;
  return {
    sender,
    async close() {
      await sender.close();
      await rm(dir, { recursive: true });
    },
  };
}

test("as configured: a service-account file signs the OAuth grant, and its token sends the pushes", async (ctx) => {
  assert.is(fcmSenderFromConfig(configured({})), undefined, "no project, no FCM");
  assert.is(
    fcmSenderFromConfig(configured({ FIREBASE_PROJECT_ID: "p" })),
    undefined,
    "no credentials, no FCM",
  );
  const json = fcmSenderFromConfig(
    configured({
      FIREBASE_PROJECT_ID: "p",
      FIREBASE_CREDENTIALS_JSON: JSON.stringify(ctx.fcm.serviceAccount),
    }),
  );
  assert.ok(json, "credentials as JSON");
  await json.close();

  const { sender, close } = await senderWithAccount(ctx, ctx.fcm.serviceAccount);
  const [grants, sends] = [ctx.fcm.tokenGrants.length, ctx.fcm.received.length];
  try {
    const results = await sender.sendMulticast(["ok-config-1", "ok-config-2"], {
      title: "Graded",
      body: "Your essay was graded",
      link: "classconnect://assessments/7",
    });
    assert.equal(results, [{ ok: true }, { ok: true }]);
    // One grant, signed with the account's key, for the messaging scope; both sends bear its token.
    const grant = ctx.fcm.tokenGrants.slice(grants);
    assert.equal(
      grant.map((g) => [g.grantType, g.accepted]),
      [["urn:ietf:params:oauth:grant-type:jwt-bearer", true]],
    );
    assert.match(String(grant[0]!.scope), "https://www.googleapis.com/auth/firebase.messaging");
    assert.equal(
      ctx.fcm.received
        .slice(sends)
        .map((r) => [r.path, r.authorization, r.message.token])
        .sort(),
      [
        ["/v1/projects/classconnect-test/messages:send", `Bearer ${ctx.fcm.exchangedToken}`, "ok-config-1"],
        ["/v1/projects/classconnect-test/messages:send", `Bearer ${ctx.fcm.exchangedToken}`, "ok-config-2"],
      ],
    );
  } finally {
    await close();
  }
});

test("a service account whose grant Google refuses: nothing is sent, and each push is reported failed, to retry", async (ctx) => {
  const otherKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const { sender, close } = await senderWithAccount(ctx, {
    ...ctx.fcm.serviceAccount,
    private_key: otherKey.export({ type: "pkcs8", format: "pem" }).toString(),
  });
  const [grants, sends] = [ctx.fcm.tokenGrants.length, ctx.fcm.received.length];
  try {
    const results = await sender.sendMulticast(["ok-1", "ok-2"], { title: "t", body: "b", link: "" });
    assert.equal(
      results.map((r) => [r.ok, !r.ok && r.retryable, !r.ok && r.invalidToken]),
      [
        [false, true, false],
        [false, true, false],
      ],
    );
    assert.ok(ctx.fcm.tokenGrants.slice(grants).length > 0, "the grant was asked for");
    assert.ok(ctx.fcm.tokenGrants.slice(grants).every((g) => !g.accepted));
    assert.is(ctx.fcm.received.length, sends, "no send without a token");
  } finally {
    await close();
  }
});

test.run();
