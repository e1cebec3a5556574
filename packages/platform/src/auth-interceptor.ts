import { timingSafeEqual } from "node:crypto";
import type { Interceptor } from "@connectrpc/connect";
import { Access, methodAccess } from "./access.js";
import { DomainError, PermissionDeniedError, UnauthenticatedError } from "./errors.js";
import { type Identity, identityKey } from "./identity.js";
import type { TokenVerifier } from "./tokens.js";

export const SERVICE_TOKEN_HEADER = "x-service-token";

export interface AuthOptions {
  verifier: TokenVerifier;
  /**
   * The shared service credential that internal callers present. Undefined at
   * the edge (the gateway), where the header is never trusted.
   */
  serviceToken: string | undefined;
  /**
   * Extra check on a verified user, e.g. the users service confirming the
   * session is live and the user not blocked. Throws to refuse.
   */
  checkUser?: (identity: Extract<Identity, { kind: "user" }>) => Promise<void>;
  /** The same for a verified admin: the admin service's own sessions, or its list of revoked ones. */
  checkAdmin?: (identity: Extract<Identity, { kind: "admin" }>) => Promise<void>;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Establishes the caller from verified credentials. */
export async function resolveIdentity(header: Headers, options: AuthOptions): Promise<Identity> {
  const serviceToken = options.serviceToken === undefined ? null : header.get(SERVICE_TOKEN_HEADER);
  if (serviceToken !== null && options.serviceToken !== undefined) {
    if (!sameSecret(serviceToken, options.serviceToken)) {
      throw new UnauthenticatedError("invalid service credential", "SERVICE_TOKEN_INVALID");
    }
    return { kind: "service" };
  }
  const authorization = header.get("authorization");
  if (authorization === null) return { kind: "anonymous" };
  const match = /^Bearer\s+(\S+)$/i.exec(authorization);
  if (!match) throw new UnauthenticatedError("authorization must be 'Bearer <token>'", "TOKEN_INVALID");
  const token = match[1]!;
  const verified = await options.verifier.verify(token);
  if (!verified.sid) throw new UnauthenticatedError("invalid access token", "TOKEN_INVALID");
  if (verified.typ === "admin") {
    const admin = { kind: "admin" as const, adminId: verified.sub, sessionId: verified.sid, token };
    await options.checkAdmin?.(admin);
    return admin;
  }
  const user = { kind: "user" as const, userId: verified.sub, sessionId: verified.sid, token };
  await options.checkUser?.(user);
  return user;
}

const accessOfIdentity: Record<Identity["kind"], Access | undefined> = {
  anonymous: undefined,
  user: Access.USER,
  admin: Access.ADMIN,
  service: Access.INTERNAL,
};

/** Refuses the call unless the identity holds one of the method's access levels. */
export function authorize(levels: readonly Access[], identity: Identity): void {
  if (levels.length === 0) throw new PermissionDeniedError("this method declares no access level");
  if (levels.includes(Access.PUBLIC)) return;
  const held = accessOfIdentity[identity.kind];
  if (held !== undefined && levels.includes(held)) return;
  if (identity.kind === "anonymous") throw new UnauthenticatedError();
  const who = levels.includes(Access.ADMIN)
    ? "administrators"
    : levels.includes(Access.USER)
      ? "signed-in users"
      : "ClassConnect services";
  throw new PermissionDeniedError(`only ${who} can call this method`, "ACCESS_LEVEL");
}

/**
 * Verifies credentials and enforces each method's declared access level.
 * A public method still identifies a caller whose token is valid, and ignores
 * one that is not.
 */
export function createAuthInterceptor(options: AuthOptions): Interceptor {
  return (next) => async (req) => {
    const levels = methodAccess(req.method);
    let identity: Identity;
    try {
      identity = await resolveIdentity(req.header, options);
    } catch (err) {
      if (!(levels.includes(Access.PUBLIC) && err instanceof DomainError)) throw err;
      identity = { kind: "anonymous" };
    }
    authorize(levels, identity);
    req.contextValues.set(identityKey, identity);
    return next(req);
  };
}
