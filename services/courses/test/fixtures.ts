import { BadRequestSchema, ErrorInfoSchema } from "@classconnect/gen/google/rpc/error_details_pb.js";
import { connectErrorOf } from "@classconnect/platform/testing";
import { Code, type ConnectError } from "@connectrpc/connect";
import * as assert from "uvu/assert";

export { at, courseInput, DAY } from "@classconnect/gateway/testing";

export async function rejects(promise: Promise<unknown>, code: Code, reason?: string): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    const e = connectErrorOf(err);
    assert.is(Code[e.code], Code[code], `expected ${Code[code]}, got ${Code[e.code]}: ${e.rawMessage}`);
    if (reason) assert.is(e.findDetails(ErrorInfoSchema)[0]?.reason, reason, e.rawMessage);
    return e;
  }
  assert.unreachable(`expected ${Code[code]}, but the call succeeded`);
  throw new Error("unreachable");
}

export async function invalid(promise: Promise<unknown>, fields: string[]): Promise<void> {
  const e = await rejects(promise, Code.InvalidArgument);
  const named = (e.findDetails(BadRequestSchema)[0]?.fieldViolations ?? []).map((v) => v.field).sort();
  assert.equal(named, [...fields].sort(), e.rawMessage);
}

export const reasonOf = (e: ConnectError) => e.findDetails(ErrorInfoSchema)[0];
