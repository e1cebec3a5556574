/**
 * Typed domain errors. Domain code throws these; the error interceptor
 * (error-interceptor.ts) is the one place that turns them into Connect codes.
 * None of them depends on Connect or on the database.
 */
export abstract class DomainError extends Error {
  /** Machine-readable reason (google.rpc.ErrorInfo.reason), UPPER_SNAKE_CASE. */
  readonly reason: string;
  /** Extra facts for the client (ErrorInfo.metadata). */
  readonly metadata: Record<string, string>;
  constructor(message: string, reason: string, metadata: Record<string, string> = {}) {
    super(message);
    this.name = new.target.name;
    this.reason = reason;
    this.metadata = metadata;
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string, reason = "NOT_FOUND") {
    super(`${what} not found`, reason);
  }
}

export class AlreadyExistsError extends DomainError {
  constructor(message: string, reason = "ALREADY_EXISTS") {
    super(message, reason);
  }
}

/** The request is valid but the current state does not allow it. */
export class FailedPreconditionError extends DomainError {}

export class PermissionDeniedError extends DomainError {
  constructor(message = "you are not allowed to do this", reason = "PERMISSION_DENIED") {
    super(message, reason);
  }
}

export class UnauthenticatedError extends DomainError {
  constructor(message = "sign-in required", reason = "UNAUTHENTICATED") {
    super(message, reason);
  }
}

/**
 * Too many attempts or a quota reached. `retryAfterSeconds`, when known, is how long until a
 * retry can succeed: the answer then says so in the standard way too, an HTTP `Retry-After`.
 */
export class ResourceExhaustedError extends DomainError {
  constructor(
    message: string,
    reason: string,
    metadata: Record<string, string> = {},
    readonly retryAfterSeconds?: number,
  ) {
    super(message, reason, metadata);
  }
}

/** Whole seconds from `now` until `at`, at least 1: a `Retry-After` value. */
export const secondsUntil = (at: Date, now: Date): number =>
  Math.max(1, Math.ceil((at.getTime() - now.getTime()) / 1000));

/** A concurrent change won (stale etag, serialization failure after retries). */
export class AbortedError extends DomainError {}

export interface FieldViolation {
  field: string;
  description: string;
  reason?: string;
}

/** Bad input found beyond the declarative protovalidate rules (e.g. image content). */
export class InvalidArgumentError extends DomainError {
  readonly violations: FieldViolation[];
  constructor(violations: FieldViolation[]) {
    const only = violations.length === 1 ? violations[0]?.reason : undefined;
    super(violations.map((v) => `${v.field}: ${v.description}`).join("; "), only ?? "INVALID_ARGUMENT");
    this.violations = violations;
  }
}
