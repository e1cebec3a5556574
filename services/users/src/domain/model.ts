/** The users service's domain records and the port its logic uses for storage. */

export interface UserRecord {
  id: string;
  email: string;
  passwordHash: string | null;
  googleUid: string | null;
  firstName: string;
  lastName: string;
  location: string;
  bio: string;
  avatarUrl: string;
  avatarKey: string | null;
  educationLevel: number;
  website: string;
  showEmail: boolean;
  showLocation: boolean;
  notificationsOptIn: boolean;
  emailVerified: boolean;
  /** IANA time zone for the times in notices; "" for UTC. */
  timeZone: string;
  role: number;
  blockedUntil: Date | null;
  blockReason: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const ROLE_MEMBER = 1;

/**
 * A time zone as given (trimmed), when the runtime knows it by that IANA name; "" (UTC) stays
 * ""; undefined for no such zone.
 */
export function knownTimeZone(name: string): string | undefined {
  const zone = name.trim();
  if (zone === "") return "";
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return zone;
  } catch {
    return undefined;
  }
}

export type NewUser = Pick<
  UserRecord,
  | "id"
  | "email"
  | "passwordHash"
  | "googleUid"
  | "firstName"
  | "lastName"
  | "location"
  | "avatarUrl"
  | "notificationsOptIn"
  | "emailVerified"
  | "timeZone"
>;

/** The password hash a caller verified, which a write requires to be still the user's. */
export interface PasswordGuard {
  passwordHash: string;
}

export type ProfilePatch = Partial<
  Pick<
    UserRecord,
    | "email"
    | "firstName"
    | "lastName"
    | "location"
    | "bio"
    | "educationLevel"
    | "website"
    | "showEmail"
    | "showLocation"
    | "notificationsOptIn"
    | "emailVerified"
    | "timeZone"
    | "passwordHash"
    | "googleUid"
    | "role"
    | "blockedUntil"
    | "blockReason"
  >
>;

export type RotateResult =
  | { kind: "rotated"; userId: string; generation: number }
  | { kind: "reused" }
  | { kind: "invalid" };

export type PinResult = "ok" | "wrong" | "expired" | "missing" | "exhausted";

/** The platform's users in figures: now, and registered in a period. */
export interface UserFigures {
  total: number;
  active: number;
  blocked: number;
  emailVerified: number;
  registered: number;
}

export interface UserFilter {
  status?: "active" | "blocked";
  role?: number;
  query?: string;
}

import type { Cursor, LoginAttemptsPort, OutboxEvent, Sql } from "@classconnect/platform";

export type { Cursor };

export interface UsersStore extends LoginAttemptsPort {
  /**
   * Runs `work` in one transaction, `store` bound to it and `tx` for the outbox events it
   * records, so that a change and its events land together or not at all.
   */
  atomically<T>(work: (store: UsersStore, tx: Sql) => Promise<T>): Promise<T>;
  createUser(user: NewUser): Promise<UserRecord>;
  userById(id: string): Promise<UserRecord | undefined>;
  /** A live user, its row locked until the transaction ends (within `atomically`). */
  userForUpdate(id: string): Promise<UserRecord | undefined>;
  userByEmail(email: string): Promise<UserRecord | undefined>;
  userByGoogleUid(uid: string): Promise<UserRecord | undefined>;
  usersByIds(ids: string[]): Promise<UserRecord[]>;
  /**
   * Applies `patch` to a live user; undefined when there is none, or (with `expect`) when its
   * password is no longer the one a caller just verified: a reset may land meanwhile.
   */
  updateUser(id: string, patch: ProfilePatch, expect?: PasswordGuard): Promise<UserRecord | undefined>;
  /**
   * Sets (or, with null, clears) a live user's avatar and answers the key of the uploaded
   * file it replaced, read under the row's lock: of two uploads at once, each replaces the
   * other's file or the one before, never the same one twice. Undefined when there is no user.
   */
  setAvatar(
    id: string,
    avatar: { url: string; key: string } | null,
  ): Promise<{ user: UserRecord; replacedKey: string | null } | undefined>;
  /**
   * Deletes an account: erases its personal data and frees its e-mail (the row stays, so
   * that what the user did elsewhere keeps its author), ends its sessions and drops its
   * one-time secrets and sign-in failures, and records `event` in the outbox, in one
   * transaction. False when there was no such live user.
   */
  deleteUser(id: string, event: OutboxEvent): Promise<boolean>;
  searchUsers(prefix: string, limit: number, after?: Cursor): Promise<UserRecord[]>;
  listUsers(filter: UserFilter, limit: number, after?: Cursor): Promise<UserRecord[]>;
  /** Counts of users at `now`, and of those registered in [from, to). */
  userFigures(from: Date, to: Date, now: Date): Promise<UserFigures>;
  /** Every user in id order, a page at a time. */
  usersInIdOrder(limit: number, afterId?: string): Promise<UserRecord[]>;

  /**
   * A session at refresh generation 0, whose refresh token expires at `expiresAt`; false (and
   * none) when the user is, as of `now`, blocked or deleted, or (with `passwordHash`) no
   * longer has the password the login verified: checked where it is written, as a block or a
   * password reset may land while a login verifies the password.
   */
  createSession(
    userId: string,
    sessionId: string,
    expiresAt: Date,
    guard: { now: Date } & Partial<PasswordGuard>,
  ): Promise<boolean>;
  /**
   * Spends the session's refresh token of `generation`: when it is the live one, the session
   * moves to the next generation, expiring at `expiresAt`; an earlier one is "reused".
   */
  rotateRefreshToken(sessionId: string, generation: number, expiresAt: Date): Promise<RotateResult>;
  revokeSession(sessionId: string, reason: string): Promise<void>;
  /** Ends the user's live sessions, all but `keep` when given. */
  revokeUserSessions(userId: string, reason: string, keep?: string): Promise<void>;
  /** Sessions revoked at or after `since`, oldest first, and the database's time of the read. */
  revokedSince(since: Date): Promise<{ readAt: Date; sessions: { sessionId: string; revokedAt: Date }[] }>;
  /** The user of a live (not revoked) session. */
  userOfLiveSession(sessionId: string): Promise<string | undefined>;
  /** Whether the session is live and its user exists and is not blocked. */
  sessionIsActive(userId: string, sessionId: string, now: Date): Promise<boolean>;

  setPin(userId: string, pinHash: Buffer, sentAt: Date, expiresAt: Date): Promise<void>;
  /** When the user's live PIN was sent, if one is pending. */
  pinSentAt(userId: string): Promise<Date | undefined>;
  consumePin(userId: string, pinHash: Buffer, maxAttempts: number): Promise<PinResult>;

  createPasswordReset(userId: string, tokenHash: Buffer, expiresAt: Date): Promise<void>;
  /** Whether a reset link was made for the user within the last `withinMs`. */
  passwordResetSentWithin(userId: string, withinMs: number): Promise<boolean>;
  /** Marks the reset used and returns its user, when live. */
  consumePasswordReset(tokenHash: Buffer): Promise<string | undefined>;

  /**
   * Deletes what can no longer be used: sessions whose refresh token expired a day ago or
   * that were revoked more than `revokedKeepMs` ago (services must have learned of them: keep
   * longer than an access token lives), reset links and PINs expired for a day and
   * login-failure counts idle for a day. Returns how many rows went.
   */
  pruneExpired(revokedKeepMs: number): Promise<number>;
}
