import { Writable } from "node:stream";
import { createLogger } from "@classconnect/platform";
import { rejects } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startUsersHarness, type UsersHarness } from "./harness.js";

const lines: string[] = [];
const sink = new Writable({
  write(chunk, _encoding, done) {
    lines.push(String(chunk));
    done();
  },
});

const test = suite<{ h: UsersHarness }>("users: logs");
test.before(async (ctx) => {
  ctx.h = await startUsersHarness({ logger: createLogger("users", "debug", sink) });
});
test.after(async (ctx) => {
  await ctx.h.close();
});

test("no password, token, PIN or e-mail reaches the logs, even at debug level", async ({ h }) => {
  const password = "Sup3r-Secret-Passw0rd";
  const u = await h.register({ email: "logged@example.com", password });
  const pin = h.lastMail("ACCOUNT_PIN", u.email)!.data["pin"]!;
  await h.auth.verifyEmail({ pin }, h.bearer(u.accessToken));
  await rejects(h.auth.login({ email: u.email, password: "Wrong-Passw0rd-XYZ" }), Code.Unauthenticated);
  const refreshed = await h.auth.refreshSession({ refreshToken: u.refreshToken });
  await rejects(h.auth.refreshSession({ refreshToken: u.refreshToken }), Code.Unauthenticated);
  await h.auth.requestPasswordReset({ email: u.email });
  const reset = h.lastMail("PASSWORD_RESET", u.email)!.data["reset_token"]!;
  await h.auth.resetPassword({ token: reset, newPassword: "An0ther-Secret-PW" });
  const out = lines.join("");
  assert.ok(out.includes('"rpc":"classconnect.users.v1.AuthService/Login"'), "calls are logged at debug");
  for (const secret of [
    password,
    "Wrong-Passw0rd-XYZ",
    "An0ther-Secret-PW",
    pin,
    u.accessToken,
    u.refreshToken,
    refreshed.session!.refreshToken,
    reset,
    "logged@example.com",
  ]) {
    assert.not.ok(out.includes(secret), `log must not contain ${secret.slice(0, 6)}…`);
  }
});

test.run();
