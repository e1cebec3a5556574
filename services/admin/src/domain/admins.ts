/**
 * Administrator accounts: the first one from configuration, sign-in with lockout, creation
 * by admins, and admin sessions. Each sign-in is a session whose token carries its id;
 * logout and a password change end sessions before their tokens expire, and every
 * service that accepts admin tokens learns of it through `revokedSessions` (long-polled).
 * Sessions follow the real clock, as the tokens' expiry does.
 */
import { randomUUID } from "node:crypto";
import {
  answerRevokedSessions,
  type ChangeSignal,
  type Cursor,
  createLoginGuard,
  defaultLoginPolicy,
  dummyPasswordHash,
  FailedPreconditionError,
  hashPassword,
  type Logger,
  NotFoundError,
  type Page,
  pageOf,
  type RevokedSessionsQuery,
  UnauthenticatedError,
  verifyPassword,
} from "@classconnect/platform";
import type { AdminRecord, AdminStore } from "../store/store.js";
import { createAudit } from "./audit.js";

const disabledError = () =>
  new FailedPreconditionError("this administrator account is disabled", "ADMIN_DISABLED");

export function createAdmins(deps: {
  store: AdminStore;
  /** Signs an access token for the session. */
  issue: (adminId: string, sessionId: string) => Promise<{ token: string; expiresAt: Date }>;
  /** How long a token lives: revoked sessions are listed that long. */
  tokenTtlMs: number;
  logger: Logger;
  /** Wakes held ListRevokedSessions calls in every replica; `announce` after each revocation. */
  revocations?: { signal: ChangeSignal; announce: () => Promise<void> };
}) {
  const { store } = deps;
  const now = () => new Date();
  async function revoke(adminId: string, which: { only?: string; except?: string }): Promise<void> {
    if ((await store.revokeSessions(adminId, which, now())) > 0) await deps.revocations?.announce();
  }
  const guard = createLoginGuard(store, defaultLoginPolicy);
  const publicView = ({ passwordHash: _, ...a }: AdminRecord) => a;
  /** Disables (ending every session) or enables `adminId`, audited; no change, no entry. */
  async function setDisabled(actorId: string, adminId: string, disabled: boolean) {
    const before = await store.adminById(adminId);
    if (!before) throw new NotFoundError("administrator");
    if ((before.disabledAt !== null) === disabled) return publicView(before);
    const { after, revoked } = await store.atomically(async (s) => {
      const after = (await s.setAdminDisabled(adminId, disabled ? now() : null))!;
      const revoked = disabled ? await s.revokeSessions(adminId, {}, now()) : 0;
      await createAudit(s).append({
        adminId: actorId,
        action: disabled ? "admin.disable" : "admin.enable",
        resourceType: "admin",
        resourceId: adminId,
        before: { disabled: !disabled },
        after: { disabled },
      });
      return { after, revoked };
    });
    // A sign-in racing this may have made a session after the transaction's revocation
    // read the sessions and checked the admin before it committed (see login): end it too.
    const late = disabled ? await store.revokeSessions(adminId, {}, now()) : 0;
    if (revoked + late > 0) await deps.revocations?.announce();
    return publicView(after);
  }
  /** A new admin and its audit entry, as one unit; the first admin (no `createdBy`) is its own actor. */
  const createAudited = (
    fields: { email: string; name: string; passwordHash: string; createdBy: string },
    action: string,
  ) =>
    store.atomically(async (s) => {
      const admin = await s.createAdmin({ id: randomUUID(), ...fields });
      await createAudit(s).append({
        adminId: fields.createdBy || admin.id,
        action,
        resourceType: "admin",
        resourceId: admin.id,
        before: null,
        after: { email: admin.email, name: admin.name },
      });
      return admin;
    });
  return {
    /** Creates the configured first admin unless it exists (idempotent across restarts and replicas). */
    async ensureFirstAdmin(email: string, password: string): Promise<void> {
      const normalized = email.trim().toLowerCase();
      if (await store.adminByEmail(normalized)) return;
      const passwordHash = await hashPassword(password);
      try {
        const admin = await createAudited(
          { email: normalized, name: "Administrator", passwordHash, createdBy: "" },
          "admin.bootstrap",
        );
        deps.logger.info({ adminId: admin.id }, "first administrator created from configuration");
      } catch (err) {
        if ((err as { reason?: string }).reason !== "EMAIL_TAKEN") throw err;
      }
    },

    async login(rawEmail: string, password: string) {
      const email = rawEmail.trim().toLowerCase();
      await guard.assertNotLocked(email);
      const admin = await store.adminByEmail(email);
      if (!admin) {
        await verifyPassword(await dummyPasswordHash(), password);
        return guard.failed(email);
      }
      if (!(await verifyPassword(admin.passwordHash, password))) return guard.failed(email);
      if (admin.disabledAt) throw disabledError();
      await guard.succeeded(email);
      const sessionId = randomUUID();
      const issued = await deps.issue(admin.id, sessionId);
      await store.createSession({ id: sessionId, adminId: admin.id, expiresAt: issued.expiresAt }, now());
      // Disabled meanwhile? Then `disable` may have revoked sessions before this one existed.
      if ((await store.adminById(admin.id))?.disabledAt) {
        await revoke(admin.id, { only: sessionId });
        throw disabledError();
      }
      return { admin: publicView(admin), ...issued };
    },

    /**
     * Takes another admin's access away: no sign-in, and their sessions end everywhere.
     * Audited; disabling a disabled admin changes nothing.
     */
    async disable(actorId: string, adminId: string) {
      if (adminId === actorId) {
        throw new FailedPreconditionError(
          "you cannot disable your own account; another administrator can",
          "CANNOT_DISABLE_SELF",
        );
      }
      return setDisabled(actorId, adminId, true);
    },

    /** Gives a disabled admin their access back (they sign in again). Audited. */
    enable: (actorId: string, adminId: string) => setDisabled(actorId, adminId, false),

    /** Ends the session: its token is refused from now on, here and (once they hear) everywhere. */
    logout: (adminId: string, sessionId: string) => revoke(adminId, { only: sessionId }),

    /** The per-call check of an admin token at this service. */
    async assertSessionActive(adminId: string, sessionId: string): Promise<void> {
      if (!(await store.sessionIsActive(adminId, sessionId, now()))) {
        throw new UnauthenticatedError("the session has ended; sign in again", "SESSION_INACTIVE");
      }
    },

    /**
     * Sessions revoked since `since` (at most one token lifetime back) whose tokens may
     * still be live. Other services call this in a loop, long polling (platform
     * `answerRevokedSessions`).
     */
    revokedSessions(query: RevokedSessionsQuery, signal: AbortSignal) {
      return answerRevokedSessions(
        query,
        signal,
        async (since) => {
          const readAt = now();
          const oldest = new Date(readAt.getTime() - deps.tokenTtlMs);
          return {
            readAt,
            sessions: await store.revokedSessions(since && since > oldest ? since : oldest, readAt),
          };
        },
        deps.revocations?.signal,
      );
    },

    async create(actorId: string, email: string, name: string, password: string) {
      const passwordHash = await hashPassword(password);
      const admin = await createAudited(
        { email: email.trim().toLowerCase(), name: name.trim(), passwordHash, createdBy: actorId },
        "admin.create",
      );
      return publicView(admin);
    },

    /**
     * Replaces the admin's password, given the current one; a wrong one counts toward the
     * sign-in lock. The admin's other sessions end; `sessionId`, the caller's, stays.
     */
    async changePassword(adminId: string, sessionId: string, current: string, next: string): Promise<void> {
      const admin = await store.adminById(adminId);
      if (!admin) throw new NotFoundError("administrator");
      await guard.confirmPassword(admin.email, admin.passwordHash, current, "current_password");
      const passwordHash = await hashPassword(next);
      const revoked = await store.atomically(async (s) => {
        await s.setAdminPassword(adminId, passwordHash);
        const revoked = await s.revokeSessions(adminId, { except: sessionId }, now());
        await createAudit(s).append({
          adminId,
          action: "admin.password_change",
          resourceType: "admin",
          resourceId: adminId,
          before: null,
          after: null,
        });
        return revoked;
      });
      if (revoked > 0) await deps.revocations?.announce();
    },

    async list(limit: number, after?: Cursor): Promise<Page<Omit<AdminRecord, "passwordHash">>> {
      const rows = await store.listAdmins(limit + 1, after);
      return pageOf(rows.map(publicView), limit, (a) => ({ key: a.createdAt.toISOString(), id: a.id }));
    },
  };
}

export type Admins = ReturnType<typeof createAdmins>;
