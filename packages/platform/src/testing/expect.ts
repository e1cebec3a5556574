/** Failed calls in tests: clients that report them, and assertions on their Connect errors. */

import { BadRequestSchema, ErrorInfoSchema } from "@classconnect/gen/google/rpc/error_details_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import * as assert from "uvu/assert";

/**
 * uvu cannot report an error whose `details` is not a string, and ConnectError's
 * is an array: such a failure would vanish from the report. Test clients are
 * wrapped so that a failed call throws a plain error that says its code and
 * message, still carrying the original for `connectErrorOf`.
 */
export class CallFailed extends Error {
  constructor(readonly connectError: ConnectError) {
    super(`[${Code[connectError.code]}] ${connectError.rawMessage}`);
    this.name = "CallFailed";
  }
}

/** `client` with failures of its unary calls rethrown as CallFailed. */
export function reporting<T extends object>(client: T): T {
  return new Proxy(client, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const result = value.apply(target, args);
        return result instanceof Promise
          ? result.catch((err: unknown) => {
              throw new CallFailed(ConnectError.from(err));
            })
          : result;
      };
    },
  });
}

/** The ConnectError behind a failed test call. */
export function connectErrorOf(err: unknown): ConnectError {
  return err instanceof CallFailed ? err.connectError : ConnectError.from(err);
}

export async function rejects(promise: Promise<unknown>, code: Code, reason?: string): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    const e = connectErrorOf(err);
    assert.is(Code[e.code], Code[code], `expected ${Code[code]}, got ${Code[e.code]}: ${e.rawMessage}`);
    if (reason) assert.is(errorReason(e), reason, `reason of: ${e.rawMessage}`);
    return e;
  }
  assert.unreachable(`expected ${Code[code]}, but the call succeeded`);
  throw new Error("unreachable");
}

export function errorReason(e: ConnectError): string | undefined {
  return e.findDetails(ErrorInfoSchema)[0]?.reason;
}

export function errorMetadata(e: ConnectError): Record<string, string> {
  return e.findDetails(ErrorInfoSchema)[0]?.metadata ?? {};
}

/** The fields named by an INVALID_ARGUMENT's google.rpc.BadRequest, sorted. */
export function violatedFields(e: ConnectError): string[] {
  return (e.findDetails(BadRequestSchema)[0]?.fieldViolations ?? []).map((v) => v.field).sort();
}

export async function invalid(promise: Promise<unknown>, fields: string[]): Promise<void> {
  const e = await rejects(promise, Code.InvalidArgument);
  assert.equal(violatedFields(e), [...fields].sort(), e.rawMessage);
}
