import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { CourseLevel, Modality } from "@classconnect/gen/classconnect/courses/v1/course_pb.js";
import {
  type CourseInput,
  CourseInputSchema,
} from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "@classconnect/gen/google/rpc/error_details_pb.js";
import { connectErrorOf } from "@classconnect/platform/testing";
import { Code, type ConnectError } from "@connectrpc/connect";
import * as assert from "uvu/assert";

export const DAY = 24 * 3600_000;
export const at = (offsetMs: number) => timestampFromDate(new Date(Date.now() + offsetMs));

/** A valid course starting in 10 days, enrollment open for 7. */
export function courseInput(overrides: MessageInitShape<typeof CourseInputSchema> = {}): CourseInput {
  return create(CourseInputSchema, {
    title: "Distributed Systems",
    description: "Consensus, replication and failure",
    objectives: ["Understand Raft", "Build a replicated log"],
    syllabus: "1. Time\n2. Consensus",
    category: "computer-science",
    level: CourseLevel.INTERMEDIATE,
    modality: Modality.ONLINE,
    capacity: 30,
    startTime: at(10 * DAY),
    endTime: at(100 * DAY),
    enrollmentDeadline: at(7 * DAY),
    passingGrade: 60,
    ...overrides,
  });
}

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
