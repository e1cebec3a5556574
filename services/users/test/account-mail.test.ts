/**
 * Account e-mails are recorded in the outbox in the transaction of the change they tell
 * of: when one cannot be recorded (a real trigger refuses it here), the change does not
 * happen either, and nothing is left half done that would hold back the next attempt
 * (a spent reset link, a PIN or reset link stored as sent, a cooldown started).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { refusingInserts, rejects } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startUsersHarness, type UsersHarness } from "./harness.js";

const PIN_COOLDOWN_MS = 1_000;

const test = suite<{ h: UsersHarness }>("users: account e-mails land with their change");
test.before(async (ctx) => {
  ctx.h = await startUsersHarness({ mail: "outbox", policies: { pinResendCooldownMs: PIN_COOLDOWN_MS } });
});
test.after(async (ctx) => {
  await ctx.h.close();
});

/** Runs `work` while the outbox refuses e-mails of `kind`. */
const refusing = <T>(h: UsersHarness, kind: string, work: () => Promise<T>) =>
  refusingInserts(h.sql, "outbox", work, `new.event_type = '${kind}'`);

/** The e-mails of `kind` recorded for `to`, oldest first. */
const mails = (h: UsersHarness, kind: string, to: string) =>
  h.sql<{ data: Record<string, string> }[]>`
    select data from outbox where event_type = ${kind} and recipients->>'email' = ${to} order by created_at`;

const newEmail = () => `mail-${crypto.randomUUID().slice(0, 8)}@example.com`;

test("Register: no account without its PIN e-mail; the address stays free", async ({ h }) => {
  const email = newEmail();
  await refusing(h, "ACCOUNT_PIN", () => rejects(h.register({ email }), Code.Internal));
  const [row] = await h.sql<{ n: number }[]>`select count(*)::int as n from users where email = ${email}`;
  assert.is(row!.n, 0);
  await refusing(h, "WELCOME", () => rejects(h.register({ email }), Code.Internal));
  await h.register({ email });
  assert.is((await mails(h, "ACCOUNT_PIN", email)).length, 1);
  assert.is((await mails(h, "WELCOME", email)).length, 1);
});

test("ResendVerificationPin: a PIN not e-mailed does not start the cooldown", async ({ h }) => {
  const u = await h.register({ email: newEmail() });
  await sleep(PIN_COOLDOWN_MS + 100);
  await refusing(h, "ACCOUNT_PIN", () =>
    rejects(h.auth.resendVerificationPin({}, h.bearer(u.accessToken)), Code.Internal),
  );
  await h.auth.resendVerificationPin({}, h.bearer(u.accessToken));
  const sent = await mails(h, "ACCOUNT_PIN", u.email);
  assert.is(sent.length, 2);
  await h.auth.verifyEmail({ pin: sent[1]!.data["pin"]! }, h.bearer(u.accessToken));
});

test("RequestPasswordReset: a link not e-mailed is not stored, so asking again sends one", async ({ h }) => {
  const u = await h.register({ email: newEmail() });
  await refusing(h, "PASSWORD_RESET", () =>
    rejects(h.auth.requestPasswordReset({ email: u.email }), Code.Internal),
  );
  const [links] = await h.sql<{ n: number }[]>`
    select count(*)::int as n from password_resets where user_id = ${u.userId}`;
  assert.is(links!.n, 0);
  await h.auth.requestPasswordReset({ email: u.email });
  assert.is((await mails(h, "PASSWORD_RESET", u.email)).length, 1);
});

test("ResetPassword: a reset whose warning cannot be recorded leaves the link usable", async ({ h }) => {
  const u = await h.register({ email: newEmail() });
  await h.auth.requestPasswordReset({ email: u.email });
  const token = (await mails(h, "PASSWORD_RESET", u.email))[0]!.data["reset_token"]!;
  const newPassword = "a whole new password";
  await refusing(h, "PASSWORD_CHANGED", () =>
    rejects(h.auth.resetPassword({ token, newPassword }), Code.Internal),
  );
  // The old password still works, and so does the user's session.
  await h.auth.login({ email: u.email, password: u.password });
  await h.users.getMe({}, h.bearer(u.accessToken));
  await h.auth.resetPassword({ token, newPassword });
  await h.auth.login({ email: u.email, password: newPassword });
  assert.is((await mails(h, "PASSWORD_CHANGED", u.email)).length, 1);
});

test("ChangePassword and an e-mail change happen only with the owner's warning", async ({ h }) => {
  const u = await h.register({ email: newEmail() });
  const other = await h.auth.login({ email: u.email, password: u.password });
  const auth = h.bearer(u.accessToken);
  const newPassword = "another new password";
  await refusing(h, "PASSWORD_CHANGED", () =>
    rejects(h.auth.changePassword({ currentPassword: u.password, newPassword }, auth), Code.Internal),
  );
  await h.auth.login({ email: u.email, password: u.password });
  await h.users.getMe({}, h.bearer(other.session!.accessToken));

  const renamed = newEmail();
  const change = () =>
    h.users.updateMe(
      { user: { email: renamed }, updateMask: { paths: ["email"] }, password: u.password },
      auth,
    );
  await refusing(h, "EMAIL_CHANGED", () => rejects(change(), Code.Internal));
  assert.is((await h.users.getMe({}, auth)).user?.email, u.email);
  await change();
  assert.is((await h.users.getMe({}, auth)).user?.email, renamed);
  assert.is((await mails(h, "EMAIL_CHANGED", u.email)).length, 1);
});

test.run();
