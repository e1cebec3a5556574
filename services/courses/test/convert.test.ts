/**
 * The hand-written message objects in convert.ts against protobuf-es's own
 * constructors: the same messages, field for field.
 */
import { create, equals } from "@bufbuild/protobuf";
import { TimestampSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { CourseSchema } from "@classconnect/gen/classconnect/courses/v1/course_pb.js";
import { PublicProfileSchema } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { toCourse, ts } from "../src/convert.js";
import type { CourseView } from "../src/domain/model.js";

const test = suite("courses: message conversions");

test("ts() gives the Timestamp timestampFromDate gives, before and after 1970", () => {
  for (const ms of [0, 1, 999, 1000, 1_795_572_799_123, -1, -999, -1000, -1001, -86_400_000 * 365 * 50 + 7]) {
    const d = new Date(ms);
    assert.ok(equals(TimestampSchema, ts(d), timestampFromDate(d)), `at ${ms} ms`);
  }
});

test("toCourse() gives the message create() builds from the same fields", () => {
  const at = (days: number) => new Date(Date.UTC(2027, 0, 1) + days * 86_400_000 + 123);
  const view: CourseView = {
    id: "698c7c9f-3bce-4953-b8c9-0ffe8ce55498",
    ownerId: "84197812-6059-46fb-860a-56334c74d195",
    title: "Algebra",
    description: "Groups and rings",
    objectives: ["groups", "rings"],
    syllabus: "week 1: groups",
    category: "math",
    level: 2,
    modality: 1,
    capacity: 40,
    startTime: at(10),
    endTime: at(100),
    enrollmentDeadline: at(2),
    pictureUrl: "http://example.com/a.png",
    passingGrade: 4.5,
    prerequisiteIds: ["5ef43c2a-9c65-44ce-914c-0069b68426c9"],
    minEducationLevel: 1,
    state: 1,
    enrolledCount: 37,
    version: 3,
    createdAt: at(-5),
    updatedAt: at(-1),
    callerEnrolled: true,
    callerRole: "student",
  } as CourseView;
  const teacher = create(PublicProfileSchema, { id: view.ownerId, firstName: "Ada" });
  const now = at(0);
  const expected = create(CourseSchema, {
    id: view.id,
    ownerId: view.ownerId,
    title: view.title,
    description: view.description,
    objectives: view.objectives,
    syllabus: view.syllabus,
    category: view.category,
    level: view.level,
    modality: view.modality,
    capacity: view.capacity,
    startTime: timestampFromDate(view.startTime),
    endTime: timestampFromDate(view.endTime),
    enrollmentDeadline: timestampFromDate(view.enrollmentDeadline),
    pictureUrl: view.pictureUrl,
    passingGrade: view.passingGrade,
    prerequisiteCourseIds: view.prerequisiteIds,
    minEducationLevel: view.minEducationLevel,
    state: view.state,
    enrolledCount: 37,
    seatsLeft: 3,
    callerEnrolled: true,
    callerRole: 3,
    limitedSeats: true,
    closingSoon: true,
    teacher,
    etag: 'W/"3"',
    createTime: timestampFromDate(view.createdAt),
    updateTime: timestampFromDate(view.updatedAt),
  });
  const actual = toCourse(view, now, teacher);
  assert.ok(equals(CourseSchema, actual, expected));
  assert.equal(Object.keys(actual).sort(), Object.keys(expected).sort());
  assert.not.ok("teacher" in toCourse(view, now));
  // A finished course takes no students: neither flag about enrolling is raised.
  const finished = toCourse({ ...view, state: 2 }, now);
  assert.equal([finished.limitedSeats, finished.closingSoon, finished.seatsLeft], [false, false, 3]);
  // The caller's final grade is set only when there is one, as create() sets an optional field.
  const graded = toCourse({ ...view, state: 2, callerFinalGrade: 72.5 }, now, teacher);
  const gradedExpected = create(CourseSchema, { ...expected, state: 2, callerFinalGrade: 72.5 });
  gradedExpected.limitedSeats = false;
  gradedExpected.closingSoon = false;
  assert.ok(equals(CourseSchema, graded, gradedExpected));
  assert.equal(Object.keys(graded).sort(), Object.keys(gradedExpected).sort());
});

test.run();
