/**
 * Revoked sessions as every service that verifies user tokens sees them. The
 * users service lists sessions that ended (logout, refresh-token re-use,
 * password reset, blocked user: AuthService.ListRevokedSessions); each service
 * polls it every half second and refuses a token whose session is listed,
 * although its signature and expiry are still fine. Checking a call costs one
 * map lookup; polling costs one indexed query per replica per interval.
 *
 * Polls ask from a little before the previous read (a revocation is stamped
 * with its transaction's start), and a failed poll is retried from the same
 * point, so an outage of the users service loses nothing: what was revoked
 * meanwhile arrives with the first poll that succeeds.
 *
 * (A server stream would push revocations sooner, but when a client cancelled
 * such a stream, the users service's HTTP/2 session stayed open through the
 * shutdown drain and even `session.destroy()` did not close it (connect-node
 * 2.1 on Node 20): a stop that never finished. Polling has nothing to drain.)
 */
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { createClient } from "@connectrpc/connect";
import { createServiceTransport } from "./client.js";
import { UnauthenticatedError } from "./errors.js";
import type { Logger } from "./logger.js";
import { startWorkerLoop } from "./worker-loop.js";

export interface RevokedSessionEntry {
  sessionId: string;
  /** After this, no access token of the session is valid anyway: it can be forgotten. */
  expiresAt: Date;
}

/** One poll: the sessions revoked since `since` (everything still relevant when undefined). */
export type FetchRevokedSessions = (
  since: Date | undefined,
) => Promise<{ sessions: RevokedSessionEntry[]; readAt: Date }>;

export interface RevokedSessions {
  isRevoked(sessionId: string): boolean;
  /** Throws UNAUTHENTICATED (SESSION_INACTIVE) when the session was revoked. */
  assertLive(sessionId: string): void;
  close(): Promise<void>;
}

/** How far before the previous read each poll asks from. */
const OVERLAP_MS = 5_000;

export function trackRevokedSessions(
  fetch: FetchRevokedSessions,
  logger: Logger,
  options: { pollMs?: number; now?: () => number } = {},
): RevokedSessions {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 500;
  const revoked = new Map<string, number>();
  let since: Date | undefined;
  let failures = 0;
  const worker = startWorkerLoop({
    name: "revoked-sessions poll",
    pollMs,
    logger,
    async pass() {
      try {
        const { sessions, readAt } = await fetch(since);
        for (const s of sessions) revoked.set(s.sessionId, s.expiresAt.getTime());
        const t = now();
        for (const [id, expiresAt] of revoked) if (expiresAt <= t) revoked.delete(id);
        since = new Date(readAt.getTime() - OVERLAP_MS);
        if (failures > 0) logger.info({ failures }, "revoked-sessions poll recovered");
        failures = 0;
      } catch (err) {
        // Once, then every minute or so: an outage of the users service is logged by its own health.
        if (failures++ % 120 === 0) logger.warn({ err, failures }, "revoked-sessions poll failed; retrying");
      }
      return false; // one poll per interval
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

/** Polls the users service (AuthService.ListRevokedSessions) as a ClassConnect service. */
export function usersRevokedSessions(usersServiceUrl: string, serviceToken: string): FetchRevokedSessions {
  const client = createClient(AuthService, createServiceTransport(usersServiceUrl, { serviceToken }));
  return async (since) => {
    const res = await client.listRevokedSessions(since ? { since: timestampFromDate(since) } : {}, {
      timeoutMs: 2_000,
    });
    return {
      readAt: res.readTime ? timestampDate(res.readTime) : new Date(),
      sessions: res.sessions.map((s) => ({
        sessionId: s.sessionId,
        expiresAt: s.expireTime ? timestampDate(s.expireTime) : new Date(0),
      })),
    };
  };
}
