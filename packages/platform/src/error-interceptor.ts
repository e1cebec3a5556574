import { create } from "@bufbuild/protobuf";
import { BadRequestSchema, ErrorInfoSchema } from "@classconnect/gen/google/rpc/error_details_pb.js";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import {
  AbortedError,
  AlreadyExistsError,
  DomainError,
  FailedPreconditionError,
  type FieldViolation,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  ResourceExhaustedError,
  UnauthenticatedError,
} from "./errors.js";
import type { Logger } from "./logger.js";
import { callerTraceIds } from "./telemetry.js";

const domainCodes: [new (...args: never[]) => DomainError, Code][] = [
  [NotFoundError, Code.NotFound],
  [AlreadyExistsError, Code.AlreadyExists],
  [FailedPreconditionError, Code.FailedPrecondition],
  [PermissionDeniedError, Code.PermissionDenied],
  [UnauthenticatedError, Code.Unauthenticated],
  [ResourceExhaustedError, Code.ResourceExhausted],
  [AbortedError, Code.Aborted],
  [InvalidArgumentError, Code.InvalidArgument],
];

/** PostgreSQL SQLSTATEs that describe the request, not a server fault. */
const sqlStateCodes: Record<string, [Code, string, string]> = {
  "23505": [Code.AlreadyExists, "ALREADY_EXISTS", "it already exists"],
  "23503": [Code.FailedPrecondition, "REFERENCE_MISSING", "a referenced resource does not exist"],
  "23514": [Code.FailedPrecondition, "CONSTRAINT_VIOLATED", "the change breaks a rule of the resource"],
  "40001": [Code.Aborted, "CONCURRENT_UPDATE", "a concurrent change won; retry"],
  "40P01": [Code.Aborted, "CONCURRENT_UPDATE", "a concurrent change won; retry"],
  "55P03": [Code.Aborted, "CONCURRENT_UPDATE", "the resource is busy; retry"],
  "57014": [Code.DeadlineExceeded, "QUERY_CANCELED", "the request took too long"],
};

export function errorInfo(reason: string, domain: string, metadata: Record<string, string> = {}) {
  return { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain, metadata }) };
}

export function badRequest(violations: FieldViolation[]) {
  return {
    desc: BadRequestSchema,
    value: create(BadRequestSchema, {
      fieldViolations: violations.map((v) => ({
        field: v.field,
        description: v.description,
        reason: v.reason ?? "",
      })),
    }),
  };
}

/** The error's `retry-after` (ResourceExhaustedError's wait), as headers to answer with; empty without one. */
export function retryAfterOf(error: ConnectError): Record<string, string> {
  const seconds = error.metadata.get("retry-after");
  return seconds === null ? {} : { "retry-after": seconds };
}

/** Converts any thrown value into the ConnectError a client should see. */
export function toConnectError(err: unknown, domain: string, logger: Logger): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DomainError) {
    const code = domainCodes.find(([type]) => err instanceof type)?.[1] ?? Code.FailedPrecondition;
    const details =
      err instanceof InvalidArgumentError
        ? [badRequest(err.violations), errorInfo(err.reason, domain, err.metadata)]
        : [errorInfo(err.reason, domain, err.metadata)];
    const wait = err instanceof ResourceExhaustedError ? err.retryAfterSeconds : undefined;
    const metadata = wait === undefined ? undefined : { "retry-after": String(wait) };
    return new ConnectError(err.message, code, metadata, details);
  }
  const sqlState = (err as { code?: unknown } | null)?.code;
  if (typeof sqlState === "string" && sqlState in sqlStateCodes) {
    const [code, reason, message] = sqlStateCodes[sqlState]!;
    return new ConnectError(message, code, undefined, [errorInfo(reason, domain)]);
  }
  logger.error({ err }, "unexpected error");
  return new ConnectError("internal error", Code.Internal);
}

/**
 * Maps domain and database errors to Connect codes (unknown errors become
 * INTERNAL) and logs each call at debug level: method, code, duration; never
 * its messages or headers.
 */
export function createErrorInterceptor(domain: string, logger: Logger): Interceptor {
  const finish = (
    req: { service: { typeName: string }; method: { name: string }; header: Headers },
    started: number,
    code: string,
  ) => {
    if (logger.isLevelEnabled("debug")) {
      logger.debug(
        {
          rpc: `${req.service.typeName}/${req.method.name}`,
          code,
          ms: Math.round(performance.now() - started),
          ...callerTraceIds(req.header),
        },
        "rpc",
      );
    }
  };
  /** The logger for a failed call's lines: with the caller's trace id when tracing is off. */
  const callLogger = (header: Headers) => {
    const ids = callerTraceIds(header);
    return ids.trace_id ? logger.child(ids) : logger;
  };
  return (next) => async (req) => {
    const started = performance.now();
    try {
      const res = await next(req);
      if (!res.stream) {
        finish(req, started, "ok");
        return res;
      }
      // A streaming handler fails while its messages are produced: map those errors too.
      const messages = res.message;
      async function* mapped() {
        try {
          yield* messages;
          finish(req, started, "ok");
        } catch (err) {
          const connectError = toConnectError(err, domain, callLogger(req.header));
          finish(req, started, Code[connectError.code]);
          throw connectError;
        }
      }
      return { ...res, message: mapped() };
    } catch (err) {
      const connectError = toConnectError(err, domain, callLogger(req.header));
      finish(req, started, Code[connectError.code]);
      throw connectError;
    }
  };
}
