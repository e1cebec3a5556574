import { rejects } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
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

test("passwords are stored as argon2id hashes; refresh and reset tokens only as digests", async ({ h }) => {
  const u = await h.register();
  await h.auth.requestPasswordReset({ email: u.email });
  const reset = h.lastMail("PASSWORD_RESET", u.email)!.data["reset_token"]!;
  const sql = postgres(h.databaseUrl, { max: 1 });
  try {
    const [row] = await sql<
      { password_hash: string }[]
    >`select password_hash from users where id = ${u.userId}`;
    assert.match(row!.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.not.ok(row!.password_hash.includes(u.password));
    const tokens = await sql<{ token_hash: Buffer }[]>`select token_hash from refresh_tokens`;
    const resets = await sql<{ token_hash: Buffer }[]>`select token_hash from password_resets`;
    const stored = [...tokens, ...resets].map((t) => Buffer.from(t.token_hash).toString("latin1")).join("|");
    assert.ok(tokens.length > 0 && resets.length > 0);
    assert.not.ok(stored.includes(u.refreshToken) || stored.includes(reset));
    assert.ok(
      [...tokens, ...resets].every((t) => t.token_hash.length === 32),
      "SHA-256 digests",
    );
  } finally {
    await sql.end();
  }
});

test.run();
