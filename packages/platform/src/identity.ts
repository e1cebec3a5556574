import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { PermissionDeniedError, UnauthenticatedError } from "./errors.js";

/** Who is calling, established by the auth interceptor from verified credentials only. */
export type Identity =
  | { kind: "anonymous" }
  | { kind: "user"; userId: string; sessionId: string; token: string }
  | { kind: "admin"; adminId: string; sessionId: string; token: string }
  | { kind: "service" };

export const identityKey = createContextKey<Identity>(
  { kind: "anonymous" },
  { description: "caller identity" },
);

export function identityOf(ctx: HandlerContext): Identity {
  return ctx.values.get(identityKey);
}

/** The calling user; UNAUTHENTICATED/PERMISSION_DENIED for anyone else. */
export function requireUser(ctx: HandlerContext): Extract<Identity, { kind: "user" }> {
  const identity = identityOf(ctx);
  if (identity.kind === "user") return identity;
  if (identity.kind === "anonymous") throw new UnauthenticatedError();
  throw new PermissionDeniedError("only a signed-in user can do this");
}

/** The calling admin. */
export function requireAdmin(ctx: HandlerContext): Extract<Identity, { kind: "admin" }> {
  const identity = identityOf(ctx);
  if (identity.kind === "admin") return identity;
  if (identity.kind === "anonymous") throw new UnauthenticatedError();
  throw new PermissionDeniedError("only an administrator can do this");
}
