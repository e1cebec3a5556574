import { randomUUID } from "node:crypto";
import {
  connectErrorOf,
  errorMetadata,
  errorReason,
  invalid,
  rejects,
  violatedFields,
} from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startUsersHarness, type UsersHarness } from "./harness.js";

const test = suite<{ h: UsersHarness }>("users: AuthService");
test.before(async (ctx) => {
  // PINs are re-sent at once here; the cooldown between them has its test in expiry.test.ts.
  ctx.h = await startUsersHarness({ policies: { pinResendCooldownMs: 0 } });
});
test.after(async (ctx) => {
  await ctx.h.close();
});

const valid: {
  email: string;
  password: string;
  firstName: string;
  lastName: string;
  location: string;
  acceptTerms: boolean;
  timeZone?: string;
} = {
  email: "grace@example.com",
  password: "s3cure-enough",
  firstName: "Grace",
  lastName: "Hopper",
  location: "Arlington",
  acceptTerms: true,
};

test("Register signs the user in, e-mails a PIN and a welcome", async ({ h }) => {
  const res = await h.auth.register({ ...valid, email: "Grace@Example.com", notificationsOptIn: true });
  assert.is(res.user?.email, "grace@example.com");
  assert.is(res.user?.firstName, "Grace");
  assert.is(res.user?.emailVerified, false);
  assert.is(res.user?.notificationsOptIn, true);
  assert.is(res.user?.hasPassword, true);
  assert.ok(res.session?.accessToken.split(".").length === 3);
  assert.ok(res.session!.refreshToken.length >= 40);
  assert.ok(res.session!.accessTokenExpireTime!.seconds < res.session!.refreshTokenExpireTime!.seconds);
  assert.match(h.lastMail("ACCOUNT_PIN", "grace@example.com")?.data["pin"] ?? "", /^\d{6}$/);
  assert.ok(h.lastMail("WELCOME", "grace@example.com"));
  const me = await h.users.getMe({}, h.bearer(res.session!.accessToken));
  assert.is(me.user?.id, res.user?.id);
  assert.is(me.user?.timeZone, "", "UTC unless given");
  const zoned = await h.auth.register({ ...valid, email: "zoned@example.com", timeZone: "America/Lima" });
  assert.is(zoned.user?.timeZone, "America/Lima");
});

test("Register refuses a taken e-mail, in any letter case", async ({ h }) => {
  await rejects(h.auth.register({ ...valid, email: "GRACE@example.com" }), Code.AlreadyExists, "EMAIL_TAKEN");
});

test("Register names every invalid field and writes nothing", async ({ h }) => {
  await invalid(
    h.auth.register({
      email: "not-an-email",
      password: "short",
      firstName: "",
      lastName: "",
      location: "",
      acceptTerms: false,
    }),
    ["accept_terms", "email", "first_name", "last_name", "location", "password"],
  );
  const cases: [Partial<typeof valid>, string][] = [
    [{ email: "" }, "email"],
    [{ email: "a@" }, "email"],
    [{ email: `${"x".repeat(250)}@example.com` }, "email"],
    [{ password: "1234567" }, "password"],
    [{ password: "x".repeat(129) }, "password"],
    [{ firstName: "" }, "first_name"],
    [{ firstName: "x".repeat(101) }, "first_name"],
    [{ lastName: "" }, "last_name"],
    [{ location: "" }, "location"],
    [{ acceptTerms: false }, "accept_terms"],
    [{ timeZone: "Atlantis/Capital" }, "time_zone"],
    [{ timeZone: "x".repeat(65) }, "time_zone"],
  ];
  for (const [change, field] of cases) {
    await invalid(h.auth.register({ ...valid, email: "fresh@example.com", ...change }), [field]);
  }
  // Nothing was written: the e-mail is still free.
  const ok = await h.auth.register({ ...valid, email: "fresh@example.com" });
  assert.is(ok.user?.email, "fresh@example.com");
});

test("VerifyEmail accepts the PIN once; wrong, used and missing PINs are refused", async ({ h }) => {
  const u = await h.register();
  const pin = h.lastMail("ACCOUNT_PIN", u.email)!.data["pin"]!;
  const wrong = pin === "000000" ? "111111" : "000000";
  await rejects(
    h.auth.verifyEmail({ pin: wrong }, h.bearer(u.accessToken)),
    Code.InvalidArgument,
    "PIN_WRONG",
  );
  await invalid(h.auth.verifyEmail({ pin: "12345" }, h.bearer(u.accessToken)), ["pin"]);
  const letters = await rejects(
    h.auth.verifyEmail({ pin: "abcdef" }, h.bearer(u.accessToken)),
    Code.InvalidArgument,
  );
  assert.match(letters.rawMessage, "pin: must be the 6 digits from the activation e-mail");
  await rejects(h.auth.verifyEmail({ pin }), Code.Unauthenticated);
  const verified = await h.auth.verifyEmail({ pin }, h.bearer(u.accessToken));
  assert.is(verified.user?.emailVerified, true);
  await rejects(
    h.auth.verifyEmail({ pin }, h.bearer(u.accessToken)),
    Code.FailedPrecondition,
    "EMAIL_ALREADY_VERIFIED",
  );
  await rejects(
    h.auth.resendVerificationPin({}, h.bearer(u.accessToken)),
    Code.FailedPrecondition,
    "EMAIL_ALREADY_VERIFIED",
  );
  // A new address needs a new PIN; the used one no longer works.
  await h.users.updateMe(
    { user: { email: `new-${u.email}` }, updateMask: { paths: ["email"] }, password: u.password },
    h.bearer(u.accessToken),
  );
  await rejects(h.auth.verifyEmail({ pin }, h.bearer(u.accessToken)), Code.InvalidArgument, "PIN_WRONG");
});

test("VerifyEmail stops after five wrong PINs, even for the right one, until a new PIN is sent", async ({
  h,
}) => {
  const u = await h.register();
  const pin = h.lastMail("ACCOUNT_PIN", u.email)!.data["pin"]!;
  const wrong = pin === "000000" ? "111111" : "000000";
  for (let i = 0; i < 5; i++) {
    await rejects(
      h.auth.verifyEmail({ pin: wrong }, h.bearer(u.accessToken)),
      Code.InvalidArgument,
      "PIN_WRONG",
    );
  }
  await rejects(
    h.auth.verifyEmail({ pin }, h.bearer(u.accessToken)),
    Code.FailedPrecondition,
    "PIN_EXHAUSTED",
  );
  assert.is((await h.users.getMe({}, h.bearer(u.accessToken))).user?.emailVerified, false);
  await h.auth.resendVerificationPin({}, h.bearer(u.accessToken));
  const fresh = h.lastMail("ACCOUNT_PIN", u.email)!.data["pin"]!;
  assert.is((await h.auth.verifyEmail({ pin: fresh }, h.bearer(u.accessToken))).user?.emailVerified, true);
});

test("ResendVerificationPin replaces the PIN", async ({ h }) => {
  const u = await h.register();
  const first = h.lastMail("ACCOUNT_PIN", u.email)!.data["pin"]!;
  await h.auth.resendVerificationPin({}, h.bearer(u.accessToken));
  const second = h.lastMail("ACCOUNT_PIN", u.email)!.data["pin"]!;
  if (first !== second) {
    await rejects(
      h.auth.verifyEmail({ pin: first }, h.bearer(u.accessToken)),
      Code.InvalidArgument,
      "PIN_WRONG",
    );
  }
  assert.is((await h.auth.verifyEmail({ pin: second }, h.bearer(u.accessToken))).user?.emailVerified, true);
  await rejects(h.auth.resendVerificationPin({}), Code.Unauthenticated);
});

test("Login succeeds with the right password, case-insensitively on the e-mail", async ({ h }) => {
  const u = await h.register();
  const res = await h.auth.login({ email: u.email.toUpperCase(), password: u.password });
  assert.is(res.user?.id, u.userId);
  assert.ok(res.session?.accessToken);
  await invalid(h.auth.login({ email: "", password: "" }), ["email", "password"]);
});

test("unknown e-mail and wrong password are indistinguishable", async ({ h }) => {
  const u = await h.register();
  const wrongPassword = await rejects(
    h.auth.login({ email: u.email, password: "wrong password" }),
    Code.Unauthenticated,
  );
  const unknown = await rejects(
    h.auth.login({ email: "nobody@example.com", password: "wrong password" }),
    Code.Unauthenticated,
  );
  assert.is(wrongPassword.rawMessage, unknown.rawMessage);
  assert.is(errorReason(wrongPassword), errorReason(unknown));
  assert.equal(errorMetadata(wrongPassword), errorMetadata(unknown));
});

test("5 quick failures lock the account, even for the right password, and tell the unlock time", async ({
  h,
}) => {
  const u = await h.register();
  for (let i = 0; i < 4; i++) {
    await rejects(
      h.auth.login({ email: u.email, password: `wrong-${i}` }),
      Code.Unauthenticated,
      "INVALID_CREDENTIALS",
    );
  }
  const fifth = await rejects(
    h.auth.login({ email: u.email, password: "wrong-5" }),
    Code.ResourceExhausted,
    "LOGIN_LOCKED",
  );
  const unlock = new Date(errorMetadata(fifth)["unlock_time"]!);
  assert.ok(unlock.getTime() > Date.now() + 10 * 60_000);
  // The wait also travels as `retry-after`, in whole seconds (gRPC trailer; HTTP header at the gateway).
  const wait = Number(fifth.metadata.get("retry-after"));
  assert.ok(Math.abs(wait - (unlock.getTime() - Date.now()) / 1000) < 5, `retry-after ${wait}`);
  await rejects(
    h.auth.login({ email: u.email, password: u.password }),
    Code.ResourceExhausted,
    "LOGIN_LOCKED",
  );
  // An unknown e-mail locks the same way, so the lock reveals nothing.
  for (let i = 0; i < 4; i++) {
    await rejects(h.auth.login({ email: "ghost@example.com", password: "x" }), Code.Unauthenticated);
  }
  await rejects(
    h.auth.login({ email: "ghost@example.com", password: "x" }),
    Code.ResourceExhausted,
    "LOGIN_LOCKED",
  );
});

test("RefreshSession rotates; re-using a spent refresh token revokes the whole session", async ({ h }) => {
  const u = await h.register();
  const first = await h.auth.refreshSession({ refreshToken: u.refreshToken });
  assert.is.not(first.session?.refreshToken, u.refreshToken);
  const second = await h.auth.refreshSession({ refreshToken: first.session!.refreshToken });
  await h.users.getMe({}, h.bearer(second.session!.accessToken));
  // A spent token with one bit changed was never issued: refused, and the session lives on.
  const forged = Buffer.from(u.refreshToken, "base64url");
  forged[forged.length - 1]! ^= 1;
  await rejects(
    h.auth.refreshSession({ refreshToken: forged.toString("base64url") }),
    Code.Unauthenticated,
    "REFRESH_TOKEN_INVALID",
  );
  await h.users.getMe({}, h.bearer(second.session!.accessToken));
  await rejects(
    h.auth.refreshSession({ refreshToken: u.refreshToken }),
    Code.Unauthenticated,
    "REFRESH_TOKEN_REUSED",
  );
  // The family is gone: the newest refresh token and every access token of the session fail.
  await rejects(
    h.auth.refreshSession({ refreshToken: second.session!.refreshToken }),
    Code.Unauthenticated,
    "REFRESH_TOKEN_INVALID",
  );
  await rejects(
    h.users.getMe({}, h.bearer(second.session!.accessToken)),
    Code.Unauthenticated,
    "SESSION_INACTIVE",
  );
  await rejects(h.users.getMe({}, h.bearer(u.accessToken)), Code.Unauthenticated, "SESSION_INACTIVE");
  // Other sessions of the same user are untouched.
  const other = await h.auth.login({ email: u.email, password: u.password });
  await h.users.getMe({}, h.bearer(other.session!.accessToken));
  await rejects(
    h.auth.refreshSession({ refreshToken: "made-up" }),
    Code.Unauthenticated,
    "REFRESH_TOKEN_INVALID",
  );
  await invalid(h.auth.refreshSession({ refreshToken: "" }), ["refresh_token"]);
});

test("Logout ends the session; other users' refresh tokens are refused", async ({ h }) => {
  const u = await h.register();
  const v = await h.register();
  await rejects(
    h.auth.logout({ refreshToken: v.refreshToken }, h.bearer(u.accessToken)),
    Code.Unauthenticated,
  );
  await rejects(h.auth.logout({ refreshToken: u.refreshToken }), Code.Unauthenticated);
  await invalid(h.auth.logout({ refreshToken: "" }, h.bearer(u.accessToken)), ["refresh_token"]);
  await h.auth.logout({ refreshToken: u.refreshToken }, h.bearer(u.accessToken));
  await rejects(h.users.getMe({}, h.bearer(u.accessToken)), Code.Unauthenticated, "SESSION_INACTIVE");
  await rejects(h.auth.refreshSession({ refreshToken: u.refreshToken }), Code.Unauthenticated);
  await h.users.getMe({}, h.bearer(v.accessToken));
});

test("password reset: same answer for unknown e-mails; single-use token; sessions end", async ({ h }) => {
  const u = await h.register();
  const before = h.mail.length;
  await h.auth.requestPasswordReset({ email: "unknown@example.com" });
  assert.is(h.mail.length, before, "no mail for an unknown address");
  await h.auth.requestPasswordReset({ email: u.email });
  const token = h.lastMail("PASSWORD_RESET", u.email)!.data["reset_token"]!;
  assert.ok(h.lastMail("PASSWORD_RESET", u.email)!.data["reset_link"]!.endsWith(token));
  // Asked again at once: answered alike, but no second e-mail (no mail-bombing an address).
  const mails = h.mail.length;
  await h.auth.requestPasswordReset({ email: u.email.toUpperCase() });
  assert.is(h.mail.length, mails, "one reset e-mail a minute");
  await invalid(h.auth.requestPasswordReset({ email: "nope" }), ["email"]);
  await invalid(h.auth.resetPassword({ token, newPassword: "short" }), ["new_password"]);
  await invalid(h.auth.resetPassword({ token: "", newPassword: "long enough pw" }), ["token"]);
  await rejects(
    h.auth.resetPassword({ token: "bogus", newPassword: "long enough pw" }),
    Code.FailedPrecondition,
    "RESET_TOKEN_INVALID",
  );
  assert.not.ok(h.lastMail("PASSWORD_CHANGED", u.email));
  await h.auth.resetPassword({ token, newPassword: "brand new password" });
  assert.ok(h.lastMail("PASSWORD_CHANGED", u.email), "the owner is warned of the change");
  await rejects(
    h.auth.resetPassword({ token, newPassword: "another password" }),
    Code.FailedPrecondition,
    "RESET_TOKEN_INVALID",
  );
  await rejects(h.users.getMe({}, h.bearer(u.accessToken)), Code.Unauthenticated);
  await rejects(h.auth.login({ email: u.email, password: u.password }), Code.Unauthenticated);
  await h.auth.login({ email: u.email, password: "brand new password" });
});

test("a password reset wins over a login or a password change racing it with the old password", async ({
  h,
}) => {
  const resetToken = async (email: string) => {
    await h.auth.requestPasswordReset({ email });
    return h.lastMail("PASSWORD_RESET", email)!.data["reset_token"]!;
  };
  const liveSessions = async (userId: string) =>
    (
      await h.sql<{ n: number }[]>`
        select count(*)::int as n from sessions where user_id = ${userId} and revoked_at is null`
    )[0]!.n;
  for (let round = 0; round < 6; round++) {
    // Someone who knows the old password signs in while the owner resets it.
    const u = await h.register();
    const token = await resetToken(u.email);
    const [login] = await Promise.allSettled([
      h.auth.login({ email: u.email, password: u.password }),
      h.auth.resetPassword({ token, newPassword: "the owner's new password" }),
    ]);
    assert.is(await liveSessions(u.userId), 0, `round ${round}: the old password keeps no session`);
    if (login.status === "rejected") {
      const { code } = connectErrorOf(login.reason);
      assert.ok([Code.Unauthenticated, Code.Aborted].includes(code), `round ${round}: ${login.reason}`);
    }

    // Someone signed in with the old password changes it while the owner resets it.
    const v = await h.register();
    const vToken = await resetToken(v.email);
    const [change] = await Promise.allSettled([
      h.auth.changePassword(
        { currentPassword: v.password, newPassword: "the intruder's password" },
        h.bearer(v.accessToken),
      ),
      h.auth.resetPassword({ token: vToken, newPassword: "the owner's new password" }),
    ]);
    await h.auth.login({ email: v.email, password: "the owner's new password" });
    await rejects(
      h.auth.login({ email: v.email, password: "the intruder's password" }),
      Code.Unauthenticated,
    );
    if (change.status === "rejected") {
      const { code } = connectErrorOf(change.reason);
      assert.ok(
        [Code.Unauthenticated, Code.Aborted, Code.InvalidArgument].includes(code),
        `${change.reason}`,
      );
    }
  }
});

test("ChangePassword: needs the current password, keeps this session, ends the others", async ({ h }) => {
  const u = await h.register();
  const here = h.bearer(u.accessToken);
  const elsewhere = await h.auth.login({ email: u.email, password: u.password });
  const change = (currentPassword: string, newPassword: string, auth = here) =>
    h.auth.changePassword({ currentPassword, newPassword }, auth);
  // Bad input changes nothing.
  await invalid(change(u.password, "short"), ["new_password"]);
  await invalid(change("", "long enough pw"), ["current_password"]);
  await invalid(change(u.password, u.password), ["new_password"]);
  const wrong = await rejects(
    change("not my password", "long enough pw"),
    Code.InvalidArgument,
    "WRONG_PASSWORD",
  );
  assert.equal(violatedFields(wrong), ["current_password"]);
  await rejects(change(u.password, "long enough pw", { headers: {} }), Code.Unauthenticated);
  await h.users.getMe({}, h.bearer(elsewhere.session!.accessToken));

  assert.not.ok(h.lastMail("PASSWORD_CHANGED", u.email), "nothing changed, nothing to warn of");
  await change(u.password, "a brand new password");
  assert.is(h.lastMail("PASSWORD_CHANGED", u.email)?.data["first_name"], "Ada");
  await h.users.getMe({}, here);
  await rejects(h.users.getMe({}, h.bearer(elsewhere.session!.accessToken)), Code.Unauthenticated);
  await rejects(
    h.auth.refreshSession({ refreshToken: elsewhere.session!.refreshToken }),
    Code.Unauthenticated,
  );
  await rejects(h.auth.login({ email: u.email, password: u.password }), Code.Unauthenticated);
  await h.auth.login({ email: u.email, password: "a brand new password" });
});

test("ChangePassword: wrong current passwords count toward the sign-in lock; a Google-only account is told to use a reset link", async ({
  h,
}) => {
  const u = await h.register();
  for (let i = 0; i < 4; i++) {
    await rejects(
      h.auth.changePassword(
        { currentPassword: `wrong-${i}`, newPassword: "long enough pw" },
        h.bearer(u.accessToken),
      ),
      Code.InvalidArgument,
      "WRONG_PASSWORD",
    );
  }
  await rejects(
    h.auth.changePassword(
      { currentPassword: "wrong-5", newPassword: "long enough pw" },
      h.bearer(u.accessToken),
    ),
    Code.ResourceExhausted,
    "LOGIN_LOCKED",
  );
  // Locked, even the right password changes nothing, and signing in is locked too.
  await rejects(
    h.auth.changePassword(
      { currentPassword: u.password, newPassword: "long enough pw" },
      h.bearer(u.accessToken),
    ),
    Code.ResourceExhausted,
    "LOGIN_LOCKED",
  );
  await rejects(
    h.auth.login({ email: u.email, password: u.password }),
    Code.ResourceExhausted,
    "LOGIN_LOCKED",
  );

  const google = await h.auth.loginWithGoogle({
    idToken: await h.google.idToken({
      uid: "google-uid-change",
      email: `grace-${randomUUID()}@example.com`,
      name: "Grace H",
    }),
  });
  await rejects(
    h.auth.changePassword(
      { currentPassword: "anything", newPassword: "long enough pw" },
      h.bearer(google.session!.accessToken),
    ),
    Code.FailedPrecondition,
    "NO_PASSWORD",
  );
});

test("GetJwks publishes the key that signs access tokens", async ({ h }) => {
  const u = await h.register();
  const { keys } = await h.auth.getJwks({});
  const kid = JSON.parse(Buffer.from(u.accessToken.split(".")[0]!, "base64url").toString()).kid;
  assert.equal(
    keys.map((k) => [k.kid, k.alg, k.crv, k.kty, k.use]),
    [[kid, "EdDSA", "Ed25519", "OKP", "sig"]],
  );
  assert.ok(!("d" in (keys[0] as object)) || (keys[0] as unknown as { d?: string }).d === undefined);
});

test("tampered, expired, foreign-key and alg=none tokens are refused", async ({ h }) => {
  const u = await h.register();
  const [header, payload, signature] = u.accessToken.split(".") as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
  const forged = Buffer.from(
    JSON.stringify({ ...claims, sub: "00000000-0000-4000-8000-000000000000" }),
  ).toString("base64url");
  await rejects(
    h.users.getMe({}, h.bearer(`${header}.${forged}.${signature}`)),
    Code.Unauthenticated,
    "TOKEN_INVALID",
  );
  const flipped = signature.slice(0, -2) + (signature.endsWith("AA") ? "BB" : "AA");
  await rejects(
    h.users.getMe({}, h.bearer(`${header}.${payload}.${flipped}`)),
    Code.Unauthenticated,
    "TOKEN_INVALID",
  );

  const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT", kid: JSON.parse(Buffer.from(header, "base64url").toString()).kid })).toString("base64url")}.${payload}.`;
  await rejects(h.users.getMe({}, h.bearer(none)), Code.Unauthenticated, "TOKEN_INVALID");

  const now = Math.floor(Date.now() / 1000);
  const expired = await new SignJWT({ typ: "user", sid: claims.sid })
    .setProtectedHeader({ alg: "EdDSA", kid: h.userKey.kid })
    .setSubject(u.userId)
    .setIssuer("classconnect-users")
    .setAudience("classconnect")
    .setIssuedAt(now - 3600)
    .setExpirationTime(now - 60)
    .sign(h.userKey.privateKey);
  await rejects(h.users.getMe({}, h.bearer(expired)), Code.Unauthenticated, "TOKEN_EXPIRED");

  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  assert.ok(await exportJWK(privateKey));
  const foreign = await new SignJWT({ typ: "user", sid: claims.sid })
    .setProtectedHeader({ alg: "EdDSA", kid: h.userKey.kid })
    .setSubject(u.userId)
    .setIssuer("classconnect-users")
    .setAudience("classconnect")
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(privateKey);
  await rejects(h.users.getMe({}, h.bearer(foreign)), Code.Unauthenticated, "TOKEN_INVALID");

  // A user key cannot mint admin tokens.
  const selfMadeAdmin = await new SignJWT({ typ: "admin" })
    .setProtectedHeader({ alg: "EdDSA", kid: h.userKey.kid })
    .setSubject(u.userId)
    .setIssuer("classconnect-users")
    .setAudience("classconnect")
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(h.userKey.privateKey);
  await rejects(h.admin.listUsers({}, h.bearer(selfMadeAdmin)), Code.Unauthenticated, "TOKEN_INVALID");
  await rejects(h.users.getMe({}, { headers: { authorization: "Basic abc" } }), Code.Unauthenticated);
  await rejects(h.users.getMe({}, h.bearer("not.a.jwt")), Code.Unauthenticated, "TOKEN_INVALID");
});

test("LoginWithGoogle creates an account from a verified Google token, then signs it in", async ({ h }) => {
  const idToken = await h.google.idToken({
    uid: "google-uid-1",
    email: "Linus@Example.com",
    name: "Linus Benedict Torvalds",
    picture: "https://example.com/linus.png",
  });
  const first = await h.auth.loginWithGoogle({ idToken });
  assert.is(first.created, true);
  assert.is(first.user?.email, "linus@example.com");
  assert.is(first.user?.firstName, "Linus");
  assert.is(first.user?.lastName, "Benedict Torvalds");
  assert.is(first.user?.avatarUrl, "https://example.com/linus.png");
  assert.is(first.user?.googleLinked, true);
  assert.is(first.user?.hasPassword, false);
  assert.is(first.user?.emailVerified, true);
  const again = await h.auth.loginWithGoogle({
    idToken: await h.google.idToken({ uid: "google-uid-1", email: "linus@example.com" }),
  });
  assert.is(again.created, false);
  assert.is(again.user?.id, first.user?.id);
  // Synced fields stay editable.
  const edited = await h.users.updateMe(
    { user: { firstName: "Lin" }, updateMask: { paths: ["first_name"] } },
    h.bearer(again.session!.accessToken),
  );
  assert.is(edited.user?.firstName, "Lin");
  // A Google-only account has no password to log in with.
  await rejects(h.auth.login({ email: "linus@example.com", password: "whatever" }), Code.Unauthenticated);
});

test("LoginWithGoogle: first sign-ins with one new Google account at once make one account and all sign in", async ({
  h,
}) => {
  // A double tap, or the app and the web signing in at once: each call finds no account
  // and creates one; the one that loses the insert must sign in to the winner's.
  for (let round = 0; round < 3; round++) {
    const idToken = await h.google.idToken({
      uid: `google-uid-race-${round}`,
      email: `race${round}@example.com`,
    });
    const results = await Promise.all(Array.from({ length: 6 }, () => h.auth.loginWithGoogle({ idToken })));
    const ids = new Set(results.map((r) => r.user?.id));
    assert.is(ids.size, 1, `round ${round}: one account`);
    assert.is(results.filter((r) => r.created).length, 1, `round ${round}: created once`);
    for (const r of results) assert.ok(r.session?.accessToken, `round ${round}: every call signed in`);
    const [row] = await h.sql<{ count: number }[]>`
      select count(*)::int as count from users where email = ${`race${round}@example.com`}`;
    assert.is(row?.count, 1);
  }
});

test("LoginWithGoogle on a password account requires linking with its password", async ({ h }) => {
  const u = await h.register({ email: "margaret@example.com" });
  const idToken = await h.google.idToken({
    uid: "google-uid-2",
    email: "margaret@example.com",
    name: "Margaret H",
  });
  await rejects(h.auth.loginWithGoogle({ idToken }), Code.FailedPrecondition, "ACCOUNT_LINK_REQUIRED");
  await rejects(
    h.auth.loginWithGoogle({ idToken, password: "wrong password" }),
    Code.Unauthenticated,
    "INVALID_CREDENTIALS",
  );
  const linked = await h.auth.loginWithGoogle({ idToken, password: u.password });
  assert.is(linked.linked, true);
  assert.is(linked.user?.id, u.userId);
  assert.is(linked.user?.googleLinked, true);
  assert.is(linked.user?.firstName, "Ada", "linking does not overwrite the profile");
  // Both methods work afterwards.
  assert.is((await h.auth.loginWithGoogle({ idToken })).user?.id, u.userId);
  assert.is((await h.auth.login({ email: u.email, password: u.password })).user?.id, u.userId);
});

test("LoginWithGoogle cannot take over an account it cannot link: an unverified Google e-mail, or an account with no password", async ({
  h,
}) => {
  const u = await h.register({ email: "joan.clarke@example.com" });
  const unverified = await h.google.idToken({ uid: "google-uid-4", email: u.email, emailVerified: false });
  for (const password of [undefined, u.password]) {
    await rejects(
      h.auth.loginWithGoogle({ idToken: unverified, ...(password ? { password } : {}) }),
      Code.FailedPrecondition,
      "ACCOUNT_LINK_IMPOSSIBLE",
    );
  }
  // A Google-only account, then another Google identity with the same e-mail.
  await h.auth.loginWithGoogle({
    idToken: await h.google.idToken({ uid: "google-uid-5", email: "hedy.lamarr@example.com" }),
  });
  await rejects(
    h.auth.loginWithGoogle({
      idToken: await h.google.idToken({ uid: "google-uid-6", email: "hedy.lamarr@example.com" }),
    }),
    Code.FailedPrecondition,
    "ACCOUNT_LINK_IMPOSSIBLE",
  );
  // Nothing was linked.
  assert.is((await h.auth.login({ email: u.email, password: u.password })).user?.googleLinked, false);
});

test("LoginWithGoogle refuses forged, expired, foreign-audience and malformed tokens", async ({ h }) => {
  const claims = { uid: "google-uid-3", email: "eve@example.com" };
  await rejects(
    h.auth.loginWithGoogle({ idToken: await h.google.idToken(claims, { unpublishedKey: true }) }),
    Code.Unauthenticated,
    "GOOGLE_TOKEN_INVALID",
  );
  await rejects(
    h.auth.loginWithGoogle({ idToken: await h.google.idToken(claims, { expiresInSeconds: -60 }) }),
    Code.Unauthenticated,
    "GOOGLE_TOKEN_INVALID",
  );
  await rejects(
    h.auth.loginWithGoogle({ idToken: await h.google.idToken(claims, { audience: "another-project" }) }),
    Code.Unauthenticated,
    "GOOGLE_TOKEN_INVALID",
  );
  await rejects(h.auth.loginWithGoogle({ idToken: "garbage" }), Code.Unauthenticated, "GOOGLE_TOKEN_INVALID");
  await invalid(h.auth.loginWithGoogle({ idToken: "" }), ["id_token"]);
  await invalid(h.auth.loginWithGoogle({ idToken: "x", password: "p".repeat(129) }), ["password"]);
});

test.run();
