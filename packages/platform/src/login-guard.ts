/**
 * Sign-in throttling shared by users and admins: a few failures within a
 * window lock the e-mail for a while. Failures are counted per e-mail whether
 * or not an account exists, so the lock reveals nothing.
 */
import type { Sql } from "./db.js";
import {
  InvalidArgumentError,
  ResourceExhaustedError,
  secondsUntil,
  UnauthenticatedError,
} from "./errors.js";
import { verifyPassword } from "./secrets.js";

export interface LoginAttemptsPort {
  loginLockedUntil(email: string): Promise<Date | null>;
  recordLoginFailure(email: string, max: number, windowMs: number, lockMs: number): Promise<Date | null>;
  clearLoginFailures(email: string): Promise<void>;
}

export interface LoginPolicy {
  maxFailures: number;
  windowMs: number;
  lockMs: number;
}

export const defaultLoginPolicy: LoginPolicy = { maxFailures: 5, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };

export function createLoginGuard(
  port: LoginAttemptsPort,
  policy: LoginPolicy,
  now: () => Date = () => new Date(),
) {
  async function assertNotLocked(email: string): Promise<void> {
    const lockedUntil = await port.loginLockedUntil(email);
    if (lockedUntil && lockedUntil > now()) {
      throw new ResourceExhaustedError(
        `too many failed sign-in attempts; try again after ${lockedUntil.toISOString()}`,
        "LOGIN_LOCKED",
        { unlock_time: lockedUntil.toISOString() },
        secondsUntil(lockedUntil, now()),
      );
    }
  }
  /** Counts a failure; LOGIN_LOCKED when that one locks the e-mail. */
  async function count(email: string): Promise<void> {
    const lockedUntil = await port.recordLoginFailure(
      email,
      policy.maxFailures,
      policy.windowMs,
      policy.lockMs,
    );
    if (lockedUntil) await assertNotLocked(email);
  }
  return {
    assertNotLocked,

    /** Counts a failure and refuses: LOGIN_LOCKED once locked, otherwise the same answer for every wrong credential. */
    async failed(email: string): Promise<never> {
      await count(email);
      throw new UnauthenticatedError("wrong e-mail or password", "INVALID_CREDENTIALS");
    },
    succeeded: (email: string) => port.clearLoginFailures(email),
    /**
     * A signed-in caller confirming an action with their password (changing it, deleting
     * the account): a wrong one counts toward the lock, as a failed sign-in, and is named
     * as `field`; the caller stays signed in, so it is bad input, not UNAUTHENTICATED.
     */
    async confirmPassword(email: string, hash: string, password: string, field: string): Promise<void> {
      await assertNotLocked(email);
      if (!(await verifyPassword(hash, password))) {
        await count(email);
        throw new InvalidArgumentError([
          { field, description: "is not your current password", reason: "WRONG_PASSWORD" },
        ]);
      }
      await port.clearLoginFailures(email);
    },
  };
}

/**
 * The PostgreSQL side of the login guard, for a table shaped
 * `(email text primary key, failures int, window_start timestamptz, locked_until timestamptz)`.
 */
export function createPostgresLoginAttempts(sql: Sql, table: string): LoginAttemptsPort {
  if (!/^[a-z_]+$/.test(table)) throw new Error(`invalid table name: ${table}`);
  const t = sql(table);
  return {
    async loginLockedUntil(email) {
      const [row] = await sql<
        { locked_until: Date | null }[]
      >`select locked_until from ${t} where email = ${email}`;
      return row?.locked_until ?? null;
    },
    async recordLoginFailure(email, max, windowMs, lockMs) {
      const stale = sql`a.window_start < now() - ${windowMs} * interval '1 millisecond'`;
      await sql`
        insert into ${t} as a (email, failures, window_start) values (${email}, 1, now())
        on conflict (email) do update set
          failures = case when ${stale} then 1 else a.failures + 1 end,
          window_start = case when ${stale} then now() else a.window_start end`;
      const [locked] = await sql<{ locked_until: Date }[]>`
        update ${t} set locked_until = now() + ${lockMs} * interval '1 millisecond', failures = 0, window_start = now()
        where email = ${email} and failures >= ${max} returning locked_until`;
      return locked?.locked_until ?? null;
    },
    async clearLoginFailures(email) {
      await sql`delete from ${t} where email = ${email}`;
    },
  };
}
