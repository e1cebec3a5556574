/**
 * Revoked sessions as every service that verifies user tokens sees them. The
 * users service lists sessions that ended (logout, refresh-token re-use,
 * password reset, blocked user: AuthService.ListRevokedSessions); each service
 * asks it in a loop and refuses a token whose session is listed, although its
 * signature and expiry are still fine. Checking a call costs one map lookup.
 *
 * The loop long-polls: each call says how many of the listed sessions it
 * already holds, and the users service holds the call until a session is
 * revoked (any replica: a trigger's NOTIFY) or `waitMs` passes. So a
 * revocation reaches every service at once, and an idle platform makes one
 * call per service every `waitMs` instead of two a second. A users service
 * that answers at once with nothing new (one that does not hold calls) is
 * asked again every `pollMs`.
 *
 * Calls ask from a little before the previous read (a revocation is stamped
 * with its transaction's start), and a failed call is retried from the same
 * point, so an outage of the users service loses nothing: what was revoked
 * meanwhile arrives with the first call that succeeds.
 */
import {
  type Duration,
  durationFromMs,
  durationMs,
  type Timestamp,
  timestampDate,
  timestampFromDate,
} from "@bufbuild/protobuf/wkt";
import { AdminAuthService } from "@classconnect/gen/classconnect/admin/v1/admin_auth_service_pb.js";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { createClient } from "@connectrpc/connect";
import type { ChangeSignal } from "./change-signal.js";
import { createServiceTransport } from "./client.js";
import { UnauthenticatedError } from "./errors.js";
import type { Logger } from "./logger.js";
import { startWorkerLoop } from "./worker-loop.js";

export interface RevokedSessionEntry {
  sessionId: string;
  revokedAt: Date;
  /** After this, no access token of the session is valid anyway: it can be forgotten. */
  expiresAt: Date;
}

/**
 * One call: the sessions revoked since `since` (everything still relevant when
 * undefined); while they are exactly the `known` ones, the answer may wait up to
 * `waitMs` for the next revocation. `signal` ends the call (the service stops).
 */
export type FetchRevokedSessions = (
  since: Date | undefined,
  options: { known: number; waitMs: number; signal: AbortSignal },
) => Promise<{ sessions: RevokedSessionEntry[]; readAt: Date }>;

export interface RevokedSessions {
  isRevoked(sessionId: string): boolean;
  /** Throws UNAUTHENTICATED (SESSION_INACTIVE) when the session was revoked. */
  assertLive(sessionId: string): void;
  close(): Promise<void>;
}

/** How far before the previous read each poll asks from. */
const OVERLAP_MS = 5_000;
/**
 * How long the list may be out of reach before it is worth a warning: at start-up the
 * services come up one after another (users and admin each follow the other's list), and
 * a poll that fails for a second or two is expected.
 */
const QUIET_OUTAGE_MS = 10_000;
/** Then a warning a minute while it lasts. */
const WARN_EVERY_MS = 60_000;

export function trackRevokedSessions(
  fetch: FetchRevokedSessions,
  logger: Logger,
  options: { pollMs?: number; waitMs?: number; now?: () => number; name?: string } = {},
): RevokedSessions {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 500;
  const waitMs = options.waitMs ?? 20_000;
  const revoked = new Map<string, number>();
  let since: Date | undefined;
  let known = 0;
  let failures = 0;
  /** When the polls began to fail, and when the last warning went out. */
  let failingSince: number | undefined;
  let warnedAt: number | undefined;
  const name = options.name ?? "revoked-sessions poll";
  const worker = startWorkerLoop({
    name,
    pollMs,
    logger,
    async pass(signal) {
      const started = performance.now();
      try {
        const { sessions, readAt } = await fetch(since, { known, waitMs, signal });
        let fresh = 0;
        for (const s of sessions) {
          if (!revoked.has(s.sessionId)) fresh++;
          revoked.set(s.sessionId, s.expiresAt.getTime());
        }
        const t = now();
        for (const [id, expiresAt] of revoked) if (expiresAt <= t) revoked.delete(id);
        since = new Date(readAt.getTime() - OVERLAP_MS);
        const from = since;
        known = sessions.filter((s) => s.revokedAt >= from).length;
        if (warnedAt !== undefined) logger.info({ failures }, `${name} recovered`);
        failures = 0;
        failingSince = warnedAt = undefined;
        // Again at once after news or a held call; after an instant answer with nothing new, in pollMs.
        return fresh > 0 || performance.now() - started >= pollMs;
      } catch (err) {
        if (signal.aborted) return false;
        // After a while, then every minute: the other service's outage shows in its own health.
        failures++;
        const t = now();
        failingSince ??= t;
        if (
          t - failingSince >= QUIET_OUTAGE_MS &&
          (warnedAt === undefined || t - warnedAt >= WARN_EVERY_MS)
        ) {
          warnedAt = t;
          logger.warn(
            { err, failures },
            `${name} has failed for ${Math.round((t - failingSince) / 1000)} s; retrying`,
          );
        }
        return false;
      }
    },
  });
  const isRevoked = (sessionId: string) => {
    const expiresAt = revoked.get(sessionId);
    return expiresAt !== undefined && expiresAt > now();
  };
  return {
    isRevoked,
    assertLive(sessionId) {
      if (isRevoked(sessionId)) {
        throw new UnauthenticatedError("the session has ended; sign in again", "SESSION_INACTIVE");
      }
    },
    close: () => worker.stop(),
  };
}

/** Long-polls the users service (AuthService.ListRevokedSessions) as a ClassConnect service. */
export function usersRevokedSessions(usersServiceUrl: string, serviceToken: string): FetchRevokedSessions {
  return revokedSessionsFrom(
    createClient(AuthService, createServiceTransport(usersServiceUrl, { serviceToken })),
  );
}

/** Long-polls the admin service (AdminAuthService.ListRevokedSessions, admin sessions) as a ClassConnect service. */
export function adminRevokedSessions(adminServiceUrl: string, serviceToken: string): FetchRevokedSessions {
  return revokedSessionsFrom(
    createClient(AdminAuthService, createServiceTransport(adminServiceUrl, { serviceToken })),
  );
}

/** What both services' ListRevokedSessions take and answer (the same fields in each contract). */
interface RevokedSessionsClient {
  listRevokedSessions(
    req: { since?: Timestamp; wait?: Duration; known?: number },
    options: { timeoutMs: number; signal: AbortSignal },
  ): Promise<{
    readTime?: Timestamp | undefined;
    sessions: { sessionId: string; revokeTime?: Timestamp | undefined; expireTime?: Timestamp | undefined }[];
  }>;
}

function revokedSessionsFrom(client: RevokedSessionsClient): FetchRevokedSessions {
  return async (since, { known, waitMs, signal }) => {
    const res = await client.listRevokedSessions(
      {
        ...(since ? { since: timestampFromDate(since) } : {}),
        ...(waitMs > 0 ? { wait: durationFromMs(waitMs), known } : {}),
      },
      // The held call's time, and a little for the answer.
      { timeoutMs: waitMs + 5_000, signal },
    );
    return {
      readAt: res.readTime ? timestampDate(res.readTime) : new Date(),
      sessions: res.sessions.map((s) => ({
        sessionId: s.sessionId,
        revokedAt: s.revokeTime ? timestampDate(s.revokeTime) : new Date(0),
        expiresAt: s.expireTime ? timestampDate(s.expireTime) : new Date(0),
      })),
    };
  };
}

/** What a ListRevokedSessions call asks (the users and admin contracts ask the same). */
export interface RevokedSessionsQuery {
  since?: Timestamp | undefined;
  wait?: Duration | undefined;
  known: number;
}

/**
 * The server side of ListRevokedSessions, for the users service (user sessions) and the
 * admin service (admin sessions): `read` lists what was revoked since a time; with a
 * `wait`, while that is exactly the `known` sessions, the call is held until `changes`
 * signals a revocation (any replica) or the wait ends.
 */
export async function answerRevokedSessions(
  req: RevokedSessionsQuery,
  signal: AbortSignal,
  read: (since: Date | undefined) => Promise<{ readAt: Date; sessions: RevokedSessionEntry[] }>,
  changes: ChangeSignal | undefined,
) {
  const since = req.since ? timestampDate(req.since) : undefined;
  const waitMs = req.wait ? durationMs(req.wait) : 0;
  const held = async () => {
    if (waitMs <= 0 || !changes) return read(since);
    // Subscribed before the read: a revocation committed in between still wakes the wait.
    const change = changes.next(waitMs, signal);
    try {
      const first = await read(since);
      if (first.sessions.length !== req.known) return first;
      await change.changed;
    } finally {
      change.cancel();
    }
    return read(since);
  };
  const answer = await held();
  return {
    readTime: timestampFromDate(answer.readAt),
    sessions: answer.sessions.map((s) => ({
      sessionId: s.sessionId,
      revokeTime: timestampFromDate(s.revokedAt),
      expireTime: timestampFromDate(s.expiresAt),
    })),
  };
}
