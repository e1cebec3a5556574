import type { BlobStore, ChangeSignal } from "@classconnect/platform";
import type { CoursesDirectory } from "../ports/courses.js";
import type { GoogleVerifier } from "../ports/google.js";
import type { Mailer } from "../ports/mailer.js";
import type { UsersStore } from "./model.js";
import type { RefreshTokenCodec } from "./refresh-tokens.js";

/** Issues signed access tokens for a user session. */
export interface AccessTokenIssuer {
  issue(userId: string, sessionId: string): Promise<{ token: string; expiresAt: Date }>;
}

export interface Policies {
  /** Lifetime of access tokens: how long a revoked session must still be refused. */
  accessTtlMs: number;
  refreshTtlMs: number;
  pinTtlMs: number;
  pinMaxAttempts: number;
  /** The shortest time between two PINs a user asks for. */
  pinResendCooldownMs: number;
  /** The shortest time between two reset e-mails to one account (requests in between are answered alike, and dropped). */
  resetCooldownMs: number;
  resetTtlMs: number;
  loginMaxFailures: number;
  loginWindowMs: number;
  loginLockMs: number;
  /** Base of the link in password-reset e-mails; the token is appended. */
  resetLinkBase: string;
}

export const defaultPolicies: Policies = {
  accessTtlMs: 15 * 60_000,
  refreshTtlMs: 30 * 24 * 3600_000,
  pinTtlMs: 10 * 60_000,
  pinMaxAttempts: 5,
  pinResendCooldownMs: 60_000,
  resetCooldownMs: 60_000,
  resetTtlMs: 60 * 60_000,
  loginMaxFailures: 5,
  loginWindowMs: 15 * 60_000,
  loginLockMs: 15 * 60_000,
  resetLinkBase: "classconnect://reset-password?token=",
};

export interface Deps {
  store: UsersStore;
  mailer: Mailer;
  tokens: AccessTokenIssuer;
  refreshTokens: RefreshTokenCodec;
  google: GoogleVerifier;
  blobs: BlobStore;
  policies: Policies;
  now: () => Date;
  /** Wakes long polls of the revoked-session list when a session is revoked (any replica); unset, they answer at once. */
  revocations?: ChangeSignal;
  /** The courses service, asked before an account is deleted; unset (a users service alone), not asked. */
  courses?: CoursesDirectory;
}
