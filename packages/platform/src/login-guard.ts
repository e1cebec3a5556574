/**
 * Sign-in throttling shared by users and admins: a few failures within a
 * window lock the e-mail for a while. Failures are counted per e-mail whether
 * or not an account exists, so the lock reveals nothing.
 */
import { ResourceExhaustedError, UnauthenticatedError } from "./errors.js";

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
      );
    }
  }
  return {
    assertNotLocked,
    /** Counts a failure and refuses: LOGIN_LOCKED once locked, otherwise the same answer for every wrong credential. */
    async failed(email: string): Promise<never> {
      const lockedUntil = await port.recordLoginFailure(
        email,
        policy.maxFailures,
        policy.windowMs,
        policy.lockMs,
      );
      if (lockedUntil) await assertNotLocked(email);
      throw new UnauthenticatedError("wrong e-mail or password", "INVALID_CREDENTIALS");
    },
    succeeded: (email: string) => port.clearLoginFailures(email),
  };
}
