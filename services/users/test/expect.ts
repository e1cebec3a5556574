/** Assertions on Connect errors shared by the users tests. */

import { BadRequestSchema, ErrorInfoSchema } from "@classconnect/gen/google/rpc/error_details_pb.js";
import { connectErrorOf } from "@classconnect/platform/testing";
import { Code, type ConnectError } from "@connectrpc/connect";
import * as assert from "uvu/assert";

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
