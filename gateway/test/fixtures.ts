/** Valid inputs shared by every suite that drives the system. */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { CourseLevel, Modality } from "@classconnect/gen/classconnect/courses/v1/course_pb.js";
import {
  type CourseInput,
  CourseInputSchema,
} from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";

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
