import { errorMetadata, rejects } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startUsersHarness, type UsersHarness } from "./harness.js";

// PINs and reset links that expire the moment they are issued.
const test = suite<{ h: UsersHarness }>("users: expiry and storage");
test.before(async (ctx) => {
  ctx.h = await startUsersHarness({ policies: { pinTtlMs: 0, resetTtlMs: 0 } });
});
test.after(async (ctx) => {
  await ctx.h.close();
});

test("an expired activation PIN is refused", async ({ h }) => {
  const u = await h.register();
  const pin = h.lastMail("ACCOUNT_PIN", u.email)!.data["pin"]!;
  await rejects(h.auth.verifyEmail({ pin }, h.bearer(u.accessToken)), Code.FailedPrecondition, "PIN_EXPIRED");
  assert.is((await h.users.getMe({}, h.bearer(u.accessToken))).user?.emailVerified, false);
  // The expired PIN is gone: the next try is told to ask for a new one.
  await rejects(h.auth.verifyEmail({ pin }, h.bearer(u.accessToken)), Code.FailedPrecondition, "PIN_MISSING");
});

test("an expired reset link is refused and the password stays", async ({ h }) => {
  const u = await h.register();
  await h.auth.requestPasswordReset({ email: u.email });
  const token = h.lastMail("PASSWORD_RESET", u.email)!.data["reset_token"]!;
  await rejects(
    h.auth.resetPassword({ token, newPassword: "never applied" }),
    Code.FailedPrecondition,
    "RESET_TOKEN_INVALID",
  );
  await h.auth.login({ email: u.email, password: u.password });
});

/** The session an access token belongs to (its `sid` claim). */
function sessionOf(accessToken: string): string {
  return JSON.parse(Buffer.from(accessToken.split(".")[1]!, "base64url").toString()).sid;
}

test("passwords are stored as argon2id hashes, reset tokens only as digests, refresh tokens not at all", async ({
  h,
}) => {
  const u = await h.register();
  await h.auth.requestPasswordReset({ email: u.email });
  const reset = h.lastMail("PASSWORD_RESET", u.email)!.data["reset_token"]!;
  const { sql } = h;
  const [row] = await sql<
    { password_hash: string }[]
  >`select password_hash from users where id = ${u.userId}`;
  assert.match(row!.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.not.ok(row!.password_hash.includes(u.password));
  const resets = await sql<{ token_hash: Buffer }[]>`select token_hash from password_resets`;
  assert.ok(resets.length > 0 && resets.every((t) => t.token_hash.length === 32), "SHA-256 digests");
  assert.not.ok(
    resets
      .map((t) => Buffer.from(t.token_hash).toString("latin1"))
      .join("|")
      .includes(reset),
  );
  // A session keeps its refresh generation and expiry; the token is its MAC, not stored anywhere.
  const [session] = await sql`select * from sessions where id = ${sessionOf(u.accessToken)}`;
  assert.equal(Object.keys(session!).sort(), [
    "created_at",
    "id",
    "refresh_expires_at",
    "refresh_generation",
    "revoke_reason",
    "revoked_at",
    "user_id",
  ]);
  assert.is(session!["refresh_generation"], 0);
});

test("what has expired is deleted: dead sessions, links, PINs and failure counts; the rest stays", async ({
  h,
}) => {
  const u = await h.register();
  const v = await h.register();
  const login = async () => (await h.auth.login({ email: u.email, password: u.password })).session!;
  const [s2, s3, s4] = [await login(), await login(), await login()];
  await h.auth.logout({ refreshToken: s2.refreshToken }, h.bearer(s2.accessToken));
  await h.auth.logout({ refreshToken: s3.refreshToken }, h.bearer(s3.accessToken));
  for (const x of [u, v]) await h.auth.requestPasswordReset({ email: x.email });
  for (const x of [u, v]) {
    await h.auth.login({ email: x.email, password: "wrong password" }).catch(() => {});
  }
  const ids = {
    s1: sessionOf(u.accessToken),
    s2: sessionOf(s2.accessToken),
    s3: sessionOf(s3.accessToken),
    s4: sessionOf(s4.accessToken),
  };
  assert.is(new Set(Object.values(ids)).size, 4);
  const { sql } = h;
  // u's first session: its refresh token expired days ago. s2: revoked days ago. Everything
  // of u's below expired or went idle days ago; v's is fresh.
  await sql`update sessions set refresh_expires_at = now() - interval '2 days' where id = ${ids.s1}`;
  await sql`update sessions set revoked_at = now() - interval '3 days' where id = ${ids.s2}`;
  await sql`update email_pins set expires_at = now() - interval '2 days' where user_id = ${u.userId}`;
  await sql`update password_resets set expires_at = now() - interval '2 days' where user_id = ${u.userId}`;
  await sql`update login_attempts set window_start = now() - interval '2 days' where email = ${u.email}`;

  assert.ok((await h.server.pruneExpired()) >= 5);

  const left = async (table: string, column: string, values: string[]) =>
    (
      await sql<
        { v: string }[]
      >`select ${sql(column)}::text as v from ${sql(table)} where ${sql(column)}::text = any(${values})`
    )
      .map((r) => r.v)
      .sort();
  assert.equal(await left("sessions", "id", Object.values(ids)), [ids.s3, ids.s4].sort());
  assert.equal(await left("email_pins", "user_id", [u.userId, v.userId]), [v.userId]);
  assert.equal(await left("password_resets", "user_id", [u.userId, v.userId]), [v.userId]);
  assert.equal(await left("login_attempts", "email", [u.email, v.email]), [v.email]);
});

test("a spent refresh token still ends its session weeks later; an expired one is only refused", async ({
  h,
}) => {
  const u = await h.register();
  const v = await h.register();
  const spent = u.refreshToken;
  const live = (await h.auth.refreshSession({ refreshToken: spent })).session!;
  const { sql } = h;
  // Weeks of the session's life pass (the live token's expiry is not yet), with prunings.
  await sql`update sessions set created_at = created_at - interval '29 days' where id = ${sessionOf(u.accessToken)}`;
  await h.server.pruneExpired();
  await rejects(h.auth.refreshSession({ refreshToken: spent }), Code.Unauthenticated, "REFRESH_TOKEN_REUSED");
  await rejects(
    h.auth.refreshSession({ refreshToken: live.refreshToken }),
    Code.Unauthenticated,
    "REFRESH_TOKEN_INVALID",
  );
  await rejects(h.users.getMe({}, h.bearer(live.accessToken)), Code.Unauthenticated, "SESSION_INACTIVE");
  // v's refresh token expires unused: refused, and the session is not ended by it.
  await sql`update sessions set refresh_expires_at = now() - interval '1 second' where id = ${sessionOf(v.accessToken)}`;
  await rejects(
    h.auth.refreshSession({ refreshToken: v.refreshToken }),
    Code.Unauthenticated,
    "REFRESH_TOKEN_INVALID",
  );
  await h.users.getMe({}, h.bearer(v.accessToken));
});

/** Moves the user's last PIN e-mail past the resend cooldown. */
async function pinSentAMinuteAgo(h: UsersHarness, userId: string): Promise<void> {
  const { sql } = h;
  await sql`update email_pins set sent_at = sent_at - interval '61 seconds' where user_id = ${userId}`;
}

test("a PIN is re-sent only a minute after the last one (each resend e-mails the address)", async ({ h }) => {
  const u = await h.register();
  const first = h.lastMail("ACCOUNT_PIN", u.email);
  assert.ok(first);
  const refused = await rejects(
    h.auth.resendVerificationPin({}, h.bearer(u.accessToken)),
    Code.ResourceExhausted,
    "PIN_RESEND_TOO_SOON",
  );
  const wait = new Date(errorMetadata(refused)["retry_time"] ?? "").getTime() - Date.now();
  assert.ok(wait > 50_000 && wait <= 60_000, `retry in ${wait} ms`);
  assert.is(h.lastMail("ACCOUNT_PIN", u.email), first, "nothing e-mailed");

  await pinSentAMinuteAgo(h, u.userId);
  await h.auth.resendVerificationPin({}, h.bearer(u.accessToken));
  const second = h.lastMail("ACCOUNT_PIN", u.email);
  assert.ok(second && second !== first, "a new PIN e-mailed");
  assert.match(second.data["pin"] ?? "", /^\d{6}$/);
});

test("an e-mail changed within the minute gets no PIN yet, and the old PIN no longer works", async () => {
  // PINs that live their usual 10 minutes here (this suite's expire at once).
  const h = await startUsersHarness();
  try {
    const u = await h.register();
    const old = h.lastMail("ACCOUNT_PIN", u.email)!.data["pin"]!;
    const renamed = `renamed-${u.email}`;
    await h.users.updateMe(
      { user: { email: renamed }, updateMask: { paths: ["email"] }, password: u.password },
      h.bearer(u.accessToken),
    );
    assert.is(h.lastMail("ACCOUNT_PIN", renamed), undefined, "not e-mailed within the cooldown");
    await rejects(
      h.auth.verifyEmail({ pin: old }, h.bearer(u.accessToken)),
      Code.InvalidArgument,
      "PIN_WRONG",
    );
    await rejects(
      h.auth.resendVerificationPin({}, h.bearer(u.accessToken)),
      Code.ResourceExhausted,
      "PIN_RESEND_TOO_SOON",
    );
    await pinSentAMinuteAgo(h, u.userId);
    await h.auth.resendVerificationPin({}, h.bearer(u.accessToken));
    const pin = h.lastMail("ACCOUNT_PIN", renamed)!.data["pin"]!;
    assert.is((await h.auth.verifyEmail({ pin }, h.bearer(u.accessToken))).user?.emailVerified, true);
  } finally {
    await h.close();
  }
});

test.run();
