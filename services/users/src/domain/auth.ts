/**
 * Sign-up, sign-in and sessions: the rules of the users service, independent of
 * Protobuf and SQL.
 */
import { randomUUID } from "node:crypto";
import {
  AbortedError,
  AlreadyExistsError,
  answerRevokedSessions,
  createLoginGuard,
  digest,
  dummyPasswordHash,
  FailedPreconditionError,
  hashPassword,
  InvalidArgumentError,
  NotFoundError,
  newOpaqueToken,
  newPin,
  pinDigest,
  ResourceExhaustedError,
  type RevokedSessionsQuery,
  type Sql,
  secondsUntil,
  UnauthenticatedError,
  verifyPassword,
} from "@classconnect/platform";
import type { GoogleIdentity } from "../ports/google.js";
import type { Deps } from "./deps.js";
import { knownTimeZone, type UserRecord, type UsersStore } from "./model.js";

export interface SessionTokens {
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
}

/** What an owner confirms an action with: the password, or for an account without one a Google ID token. */
export interface OwnerProof {
  password: string;
  googleIdToken: string;
}

export interface SignedIn {
  user: UserRecord;
  session: SessionTokens;
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function invalidRefreshToken(): UnauthenticatedError {
  return new UnauthenticatedError("the refresh token is not valid", "REFRESH_TOKEN_INVALID");
}

/** VerifyEmail's and ResendVerificationPin's answer once the address is verified. */
function alreadyVerified(): FailedPreconditionError {
  return new FailedPreconditionError("the e-mail address is already verified", "EMAIL_ALREADY_VERIFIED");
}

function blockedError(user: UserRecord): FailedPreconditionError {
  return new FailedPreconditionError(
    `this account is blocked until ${user.blockedUntil!.toISOString()}`,
    "ACCOUNT_BLOCKED",
    { blocked_until: user.blockedUntil!.toISOString() },
  );
}

/**
 * A new activation PIN for `user`'s address; the one before it stops working. It is e-mailed
 * unless a PIN went out less than `pinResendCooldownMs` ago: each e-mail goes to an address
 * the caller names, so not more often than that. Then `whenTooSoon` says what happens:
 * "refuse" (RESOURCE_EXHAUSTED, PIN_RESEND_TOO_SOON, with the time to ask again) or "hold"
 * (the new PIN is stored unsent, keeping the last sending time: the user asks for it then).
 */
export async function sendActivationPin(
  deps: Deps,
  user: UserRecord,
  whenTooSoon: "refuse" | "hold",
  within?: { store: UsersStore; tx: Sql },
): Promise<void> {
  const store = within?.store ?? deps.store;
  const now = deps.now();
  const lastSent = await store.pinSentAt(user.id);
  const next = lastSent && new Date(lastSent.getTime() + deps.policies.pinResendCooldownMs);
  const tooSoon = next !== undefined && next > now;
  if (tooSoon && whenTooSoon === "refuse") {
    throw new ResourceExhaustedError(
      `a PIN was sent moments ago; ask for another after ${next.toISOString()}`,
      "PIN_RESEND_TOO_SOON",
      { retry_time: next.toISOString() },
      secondsUntil(next, now),
    );
  }
  const pin = newPin();
  const expiresAt = new Date(now.getTime() + deps.policies.pinTtlMs);
  const sentAt = tooSoon && lastSent ? lastSent : now;
  await store.setPin(user.id, pinDigest(user.id, pin), sentAt, expiresAt);
  if (!tooSoon) {
    await deps.mailer.send(
      { kind: "ACCOUNT_PIN", to: user.email, data: { pin, first_name: user.firstName } },
      within?.tx,
    );
  }
}

export function isBlocked(user: UserRecord, now: Date): boolean {
  return user.blockedUntil !== null && user.blockedUntil > now;
}

export function createAuth(deps: Deps) {
  const { store, policies } = deps;

  const accountChanged = () =>
    new AbortedError("the account changed while signing in; sign in again", "ACCOUNT_CHANGED");

  /** Starts a session; `verified`, the password hash a login just checked, must still be the user's. */
  async function startSession(user: UserRecord, verified?: string): Promise<SignedIn> {
    const sessionId = randomUUID();
    const refreshToken = deps.refreshTokens.issue({ sessionId, generation: 0 });
    const refreshTokenExpiresAt = new Date(deps.now().getTime() + policies.refreshTtlMs);
    const still = { now: deps.now(), ...(verified ? { passwordHash: verified } : {}) };
    if (!(await store.createSession(user.id, sessionId, refreshTokenExpiresAt, still))) {
      // Blocked, deleted or given a new password since it was read: say which, if it is one
      // of the first two, as a login at that moment would.
      await loadActiveUser(user.id);
      throw accountChanged();
    }
    const access = await deps.tokens.issue(user.id, sessionId);
    return {
      user,
      session: {
        accessToken: access.token,
        accessTokenExpiresAt: access.expiresAt,
        refreshToken,
        refreshTokenExpiresAt,
      },
    };
  }

  async function loadActiveUser(userId: string): Promise<UserRecord> {
    const user = await store.userById(userId);
    if (!user) throw new UnauthenticatedError("the account no longer exists", "ACCOUNT_MISSING");
    if (isBlocked(user, deps.now())) throw blockedError(user);
    return user;
  }

  const guard = createLoginGuard(
    store,
    {
      maxFailures: policies.loginMaxFailures,
      windowMs: policies.loginWindowMs,
      lockMs: policies.loginLockMs,
    },
    deps.now,
  );
  const assertNotLocked = guard.assertNotLocked;
  const confirmPassword = guard.confirmPassword;
  /** The Google account an ID token proves; undefined for none, or one that does not verify. */
  async function googleUidOf(idToken: string): Promise<string | undefined> {
    if (!idToken) return undefined;
    try {
      return (await deps.google.verify(idToken)).uid;
    } catch (err) {
      // A token that does not verify proves nothing; Google being unreachable is another matter.
      if (err instanceof UnauthenticatedError) return undefined;
      throw err;
    }
  }
  /**
   * The signed-in owner confirming an action a stolen session must not take (deleting the
   * account, moving it to another e-mail): with the password, or (an account without one)
   * with a fresh Google ID token of its Google account.
   */
  async function confirmOwner(user: UserRecord, proof: OwnerProof): Promise<void> {
    if (user.passwordHash) {
      if (!proof.password) {
        throw new InvalidArgumentError([
          { field: "password", description: "confirm this with your password", reason: "PASSWORD_REQUIRED" },
        ]);
      }
      await confirmPassword(user.email, user.passwordHash, proof.password, "password");
    } else if ((await googleUidOf(proof.googleIdToken)) !== user.googleUid) {
      throw new InvalidArgumentError([
        {
          field: "google_id_token",
          description: "sign in with this account's Google account again and send its ID token",
          reason: "GOOGLE_REAUTH_REQUIRED",
        },
      ]);
    }
  }
  /** Tells the owner, so that a change they did not make does not go unnoticed; in the change's transaction. */
  const passwordChangedMail = (user: UserRecord, tx: Sql) =>
    deps.mailer.send({ kind: "PASSWORD_CHANGED", to: user.email, data: { first_name: user.firstName } }, tx);
  const recordFailure = guard.failed;

  /** Links `google` to the password account with its e-mail: the password proves it is theirs. */
  async function linkGoogle(
    existing: UserRecord,
    google: GoogleIdentity,
    password: string,
  ): Promise<SignedIn> {
    if (!existing.passwordHash || !google.emailVerified) {
      throw new FailedPreconditionError(
        "this e-mail belongs to another account that cannot be linked to Google",
        "ACCOUNT_LINK_IMPOSSIBLE",
      );
    }
    if (!password) {
      throw new FailedPreconditionError(
        "an account with this e-mail exists: sign in again with its password to link Google",
        "ACCOUNT_LINK_REQUIRED",
        { email: existing.email },
      );
    }
    await assertNotLocked(existing.email);
    if (!(await verifyPassword(existing.passwordHash, password))) return recordFailure(existing.email);
    await guard.succeeded(existing.email);
    if (isBlocked(existing, deps.now())) throw blockedError(existing);
    // Only while the password checked is still the account's: a reset may land meanwhile.
    const linked = await store.updateUser(
      existing.id,
      { googleUid: google.uid, emailVerified: true },
      { passwordHash: existing.passwordHash },
    );
    if (!linked) throw accountChanged();
    return startSession(linked, existing.passwordHash);
  }

  /** A new account from a Google identity: name, e-mail and photo as Google has them. */
  function createGoogleUser(google: GoogleIdentity): Promise<UserRecord> {
    const [first, ...rest] = google.name.trim().split(/\s+/);
    return store.createUser({
      id: randomUUID(),
      email: google.email,
      passwordHash: null,
      googleUid: google.uid,
      firstName: (first || google.email.split("@")[0] || "").slice(0, 100),
      lastName: rest.join(" ").slice(0, 100),
      location: "",
      avatarUrl: google.picture,
      notificationsOptIn: false,
      emailVerified: google.emailVerified,
      timeZone: "",
    });
  }

  return {
    sessionFor: startSession,
    confirmOwner,

    async register(input: {
      email: string;
      password: string;
      firstName: string;
      lastName: string;
      location: string;
      notificationsOptIn: boolean;
      timeZone: string;
    }): Promise<SignedIn> {
      const timeZone = knownTimeZone(input.timeZone);
      if (timeZone === undefined) {
        throw new InvalidArgumentError([{ field: "time_zone", description: "not an IANA time zone" }]);
      }
      const passwordHash = await hashPassword(input.password);
      // The account, its PIN and its two e-mails land together: no account whose PIN never went out.
      const user = await store.atomically(async (s, tx) => {
        const created = await s.createUser({
          id: randomUUID(),
          email: normalizeEmail(input.email),
          passwordHash,
          googleUid: null,
          firstName: input.firstName.trim(),
          lastName: input.lastName.trim(),
          location: input.location.trim(),
          avatarUrl: "",
          notificationsOptIn: input.notificationsOptIn,
          emailVerified: false,
          timeZone,
        });
        await sendActivationPin(deps, created, "refuse", { store: s, tx });
        await deps.mailer.send(
          { kind: "WELCOME", to: created.email, data: { first_name: created.firstName } },
          tx,
        );
        return created;
      });
      return startSession(user);
    },

    async verifyEmail(userId: string, pin: string): Promise<UserRecord> {
      const user = await loadActiveUser(userId);
      // The PIN was used (or the address verified otherwise): it is refused, with the reason.
      if (user.emailVerified) {
        throw alreadyVerified();
      }
      const result = await store.consumePin(userId, pinDigest(userId, pin), policies.pinMaxAttempts);
      switch (result) {
        case "ok":
          return (await store.updateUser(userId, { emailVerified: true }))!;
        case "expired":
          throw new FailedPreconditionError("the PIN has expired; request a new one", "PIN_EXPIRED");
        case "missing":
          throw new FailedPreconditionError("no PIN is pending; request a new one", "PIN_MISSING");
        case "exhausted":
          throw new FailedPreconditionError("too many wrong PINs; request a new one", "PIN_EXHAUSTED");
        case "wrong":
          throw new InvalidArgumentError([
            { field: "pin", description: "the PIN is not correct", reason: "PIN_WRONG" },
          ]);
      }
    },

    async resendPin(userId: string): Promise<void> {
      const user = await loadActiveUser(userId);
      if (user.emailVerified) {
        throw alreadyVerified();
      }
      // The PIN is stored as sent only with its e-mail: else the cooldown would hold back the next.
      await store.atomically((s, tx) => sendActivationPin(deps, user, "refuse", { store: s, tx }));
    },

    async login(rawEmail: string, password: string): Promise<SignedIn> {
      const email = normalizeEmail(rawEmail);
      await assertNotLocked(email);
      const user = await store.userByEmail(email);
      if (!user?.passwordHash) {
        await verifyPassword(await dummyPasswordHash(), password);
        return recordFailure(email);
      }
      if (!(await verifyPassword(user.passwordHash, password))) return recordFailure(email);
      await guard.succeeded(email);
      if (isBlocked(user, deps.now())) throw blockedError(user);
      return startSession(user, user.passwordHash);
    },

    async loginWithGoogle(
      idToken: string,
      password: string,
    ): Promise<SignedIn & { created: boolean; linked: boolean }> {
      const google = await deps.google.verify(idToken);
      // A first sign-in that loses the insert to another one with the same Google account
      // (a double tap, two devices) looks again and signs in to the account that won.
      for (let attempt = 1; ; attempt++) {
        // By e-mail too: the account another first sign-in just made has this Google account.
        const user = (await store.userByGoogleUid(google.uid)) ?? (await store.userByEmail(google.email));
        if (user?.googleUid === google.uid) {
          if (isBlocked(user, deps.now())) throw blockedError(user);
          return { ...(await startSession(user)), created: false, linked: false };
        }
        if (user) return { ...(await linkGoogle(user, google, password)), created: false, linked: true };
        const created = await createGoogleUser(google).catch((err: unknown) => {
          if (!(err instanceof AlreadyExistsError) || attempt === 2) throw err;
          return undefined; // lost the insert: look again
        });
        if (created) return { ...(await startSession(created)), created: true, linked: false };
      }
    },

    async refresh(refreshToken: string): Promise<SessionTokens> {
      const claims = deps.refreshTokens.read(refreshToken);
      if (!claims) throw invalidRefreshToken();
      const { sessionId } = claims;
      const refreshTokenExpiresAt = new Date(deps.now().getTime() + policies.refreshTtlMs);
      const result = await store.rotateRefreshToken(sessionId, claims.generation, refreshTokenExpiresAt);
      if (result.kind === "invalid") throw invalidRefreshToken();
      if (result.kind === "reused") {
        await store.revokeSession(sessionId, "refresh token reused");
        throw new UnauthenticatedError(
          "the refresh token was already used; the session has been ended for safety",
          "REFRESH_TOKEN_REUSED",
        );
      }
      await loadActiveUser(result.userId);
      const access = await deps.tokens.issue(result.userId, sessionId);
      return {
        accessToken: access.token,
        accessTokenExpiresAt: access.expiresAt,
        refreshToken: deps.refreshTokens.issue({ sessionId, generation: result.generation }),
        refreshTokenExpiresAt,
      };
    },

    async logout(userId: string, refreshToken: string): Promise<void> {
      const claims = deps.refreshTokens.read(refreshToken);
      if (!claims || (await store.userOfLiveSession(claims.sessionId)) !== userId) {
        throw invalidRefreshToken();
      }
      await store.revokeSession(claims.sessionId, "logout");
    },

    async requestPasswordReset(rawEmail: string): Promise<void> {
      const user = await store.userByEmail(normalizeEmail(rawEmail));
      if (!user) return;
      // One e-mail a cooldown, whoever asks: the same silent answer, so nothing about the account shows.
      if (await store.passwordResetSentWithin(user.id, policies.resetCooldownMs)) return;
      const token = newOpaqueToken();
      // The link is stored only with its e-mail: else the cooldown would hold back the next.
      await store.atomically(async (s, tx) => {
        await s.createPasswordReset(
          user.id,
          digest(token),
          new Date(deps.now().getTime() + policies.resetTtlMs),
        );
        await deps.mailer.send(
          {
            kind: "PASSWORD_RESET",
            to: user.email,
            data: {
              reset_token: token,
              reset_link: `${policies.resetLinkBase}${token}`,
              first_name: user.firstName,
            },
          },
          tx,
        );
      });
    },

    async resetPassword(token: string, newPassword: string): Promise<void> {
      const passwordHash = await hashPassword(newPassword);
      // The link is spent only with the password it sets: a failure part-way leaves it usable.
      await store.atomically(async (s, tx) => {
        const userId = await s.consumePasswordReset(digest(token));
        if (!userId) {
          throw new FailedPreconditionError(
            "the reset link is invalid, used or expired",
            "RESET_TOKEN_INVALID",
          );
        }
        const user = await s.updateUser(userId, { passwordHash });
        if (user) await s.clearLoginFailures(user.email);
        await s.revokeUserSessions(userId, "password reset");
        if (user) await passwordChangedMail(user, tx);
      });
    },

    /**
     * Replaces the password of a signed-in user who knows the current one, and ends their
     * other sessions. A wrong current password counts toward the sign-in lock, as a login.
     */
    async changePassword(userId: string, sessionId: string, current: string, next: string): Promise<void> {
      const user = await store.userById(userId);
      if (!user) throw new NotFoundError("user");
      if (!user.passwordHash) {
        throw new FailedPreconditionError(
          "this account has no password yet (it signs in with Google): set one with a password reset link",
          "NO_PASSWORD",
        );
      }
      const confirmed = user.passwordHash;
      await confirmPassword(user.email, confirmed, current, "current_password");
      const passwordHash = await hashPassword(next);
      // The new password, the end of the other sessions and the owner's warning land together.
      await store.atomically(async (s, tx) => {
        // Only over the password just confirmed: a reset landing meanwhile wins.
        const changed = await s.updateUser(userId, { passwordHash }, { passwordHash: confirmed });
        if (!changed) {
          throw new AbortedError("the password changed meanwhile; nothing was changed", "PASSWORD_CHANGED");
        }
        await s.revokeUserSessions(userId, "password changed", sessionId);
        await passwordChangedMail(user, tx);
      });
    },

    /**
     * Deletes the caller's account (see UsersStore.deleteUser), which the owner confirms:
     * with the password, or (an account without one) with a fresh Google ID token of its
     * Google account. The notifications service is told, to erase what it keeps.
     */
    async deleteAccount(userId: string, proof: OwnerProof): Promise<void> {
      const user = await store.userById(userId);
      if (!user) throw new NotFoundError("user");
      await confirmOwner(user, proof);
      const teaching = await deps.courses?.ownedActive(userId);
      if (teaching && teaching.total > 0) {
        const titles = teaching.courses.map((c) => `"${c.title}"`).join(", ");
        const more =
          teaching.total > teaching.courses.length
            ? ` and ${teaching.total - teaching.courses.length} more`
            : "";
        throw new FailedPreconditionError(
          `you still teach ${titles}${more}: finish or delete your courses before deleting your account`,
          "OWNS_ACTIVE_COURSES",
          { course_ids: teaching.courses.map((c) => c.courseId).join(","), total: String(teaching.total) },
        );
      }
      // First, so that a failure leaves the account as it was (forgetting twice is harmless).
      await deps.courses?.forget(userId);
      const told = { type: "ACCOUNT_DELETED" as const, recipients: { userIds: [userId] }, data: {} };
      if (!(await store.deleteUser(userId, told))) throw new NotFoundError("user");
      if (user.avatarKey) await deps.blobs.delete(user.avatarKey);
    },

    /**
     * Sessions revoked since `since` (at most one access-token lifetime back),
     * each with the time its last access token expires. Other services call this
     * in a loop, long polling (platform `answerRevokedSessions`).
     */
    revokedSessions(query: RevokedSessionsQuery, signal: AbortSignal) {
      return answerRevokedSessions(
        query,
        signal,
        async (since) => {
          const oldest = new Date(deps.now().getTime() - deps.policies.accessTtlMs);
          const { readAt, sessions } = await store.revokedSince(since && since > oldest ? since : oldest);
          return {
            readAt,
            sessions: sessions.map((r) => ({
              ...r,
              expiresAt: new Date(r.revokedAt.getTime() + deps.policies.accessTtlMs),
            })),
          };
        },
        deps.revocations,
      );
    },

    /** The per-call check behind "blocked users' tokens stop working at once". */
    async assertSessionActive(userId: string, sessionId: string): Promise<void> {
      if (!(await store.sessionIsActive(userId, sessionId, deps.now()))) {
        throw new UnauthenticatedError("the session has ended; sign in again", "SESSION_INACTIVE");
      }
    },
  };
}

export type Auth = ReturnType<typeof createAuth>;
