/** Conversions between the courses service's domain records and its Protobuf messages. */
import { create } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { Course as CourseMsg } from "@classconnect/gen/classconnect/courses/v1/course_pb.js";
import {
  type CourseInput,
  CourseInputSchema,
} from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentSchema } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import {
  CourseFeedbackSchema,
  StudentFeedbackSchema,
} from "@classconnect/gen/classconnect/courses/v1/feedback_service_pb.js";
import { ModuleSchema, ResourceSchema } from "@classconnect/gen/classconnect/courses/v1/module_service_pb.js";
import { ActivityEntrySchema } from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import { type PublicProfile, PublicProfileSchema } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { dateOrUnset, timestampOrUnset } from "@classconnect/platform";
import {
  type Course,
  type CourseFields,
  type CourseView,
  closingSoon,
  etagOf,
  limitedSeats,
  type Prerequisite,
  seatsLeft,
} from "./domain/model.js";
import type { EnrollmentRecord } from "./store/enrollments.js";
import type { CourseFeedbackRecord, StudentFeedbackRecord } from "./store/feedback.js";
import type { ModuleRecord, ResourceRecord } from "./store/modules.js";
import type { ActivityRecord } from "./store/staff.js";

/** A Timestamp, built directly: `create`'s reflective pass costs more than the conversion itself. */
export const ts = (d: Date): Timestamp => {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return {
    $typeName: "google.protobuf.Timestamp",
    seconds: BigInt(seconds),
    nanos: (ms - seconds * 1000) * 1_000_000,
  };
};
const roles = { none: 0, owner: 1, assistant: 2, student: 3 } as const;

/**
 * A course as its message, written as the message object itself (protobuf-es messages are plain
 * objects): catalog pages convert many courses per call, and `create` costs a reflective pass
 * per message. A field added to Course that is not set here fails type-checking.
 */
export function toCourse(
  c: Course | CourseView,
  now: Date,
  teacher?: PublicProfile,
  prerequisites: Prerequisite[] = [],
): CourseMsg {
  const view = "callerRole" in c ? c : undefined;
  return {
    $typeName: "classconnect.courses.v1.Course",
    id: c.id,
    ownerId: c.ownerId,
    title: c.title,
    description: c.description,
    objectives: c.objectives,
    syllabus: c.syllabus,
    category: c.category,
    level: c.level,
    modality: c.modality,
    capacity: c.capacity,
    startTime: ts(c.startTime),
    endTime: ts(c.endTime),
    enrollmentDeadline: ts(c.enrollmentDeadline),
    pictureUrl: c.pictureUrl,
    passingGrade: c.passingGrade,
    prerequisiteCourseIds: c.prerequisiteIds,
    minEducationLevel: c.minEducationLevel,
    state: c.state,
    enrolledCount: c.enrolledCount,
    seatsLeft: seatsLeft(c),
    callerEnrolled: view?.callerEnrolled ?? false,
    callerRole: view ? roles[view.callerRole] : 0,
    ...(view?.callerFinalGrade !== undefined ? { callerFinalGrade: view.callerFinalGrade } : {}),
    limitedSeats: limitedSeats(c),
    closingSoon: closingSoon(c, now),
    ...(teacher ? { teacher } : {}),
    etag: etagOf(c),
    createTime: ts(c.createdAt),
    updateTime: ts(c.updatedAt),
    prerequisites: prerequisites.map((p) => ({ $typeName: "classconnect.courses.v1.Prerequisite", ...p })),
  };
}

export function fieldsFromInput(i: CourseInput): CourseFields {
  return {
    title: i.title.trim(),
    description: i.description,
    objectives: i.objectives,
    syllabus: i.syllabus,
    category: i.category.trim(),
    level: i.level,
    modality: i.modality,
    capacity: i.capacity,
    startTime: dateOrUnset(i.startTime),
    endTime: dateOrUnset(i.endTime),
    enrollmentDeadline: dateOrUnset(i.enrollmentDeadline),
    pictureUrl: i.pictureUrl,
    passingGrade: i.passingGrade,
    prerequisiteIds: i.prerequisiteCourseIds,
    minEducationLevel: i.minEducationLevel,
  };
}

export function inputFromFields(f: CourseFields): CourseInput {
  return create(CourseInputSchema, {
    title: f.title,
    description: f.description,
    objectives: f.objectives,
    syllabus: f.syllabus,
    category: f.category,
    level: f.level,
    modality: f.modality,
    capacity: f.capacity,
    startTime: timestampOrUnset(f.startTime, ts),
    endTime: timestampOrUnset(f.endTime, ts),
    enrollmentDeadline: timestampOrUnset(f.enrollmentDeadline, ts),
    pictureUrl: f.pictureUrl,
    passingGrade: f.passingGrade,
    prerequisiteCourseIds: f.prerequisiteIds,
    minEducationLevel: f.minEducationLevel,
  });
}

/** Update-mask paths of CourseInput and the domain field each one sets. */
export const courseMaskPaths: Record<string, keyof CourseFields> = {
  title: "title",
  description: "description",
  objectives: "objectives",
  syllabus: "syllabus",
  category: "category",
  level: "level",
  modality: "modality",
  capacity: "capacity",
  start_time: "startTime",
  end_time: "endTime",
  enrollment_deadline: "enrollmentDeadline",
  picture_url: "pictureUrl",
  passing_grade: "passingGrade",
  prerequisite_course_ids: "prerequisiteIds",
  min_education_level: "minEducationLevel",
};

export function profileOrId(profiles: Map<string, PublicProfile>, id: string): PublicProfile {
  return profiles.get(id) ?? create(PublicProfileSchema, { id });
}

export function toEnrollment(e: EnrollmentRecord, student: PublicProfile) {
  return create(EnrollmentSchema, {
    courseId: e.courseId,
    student,
    enrollTime: ts(e.enrolledAt),
    ...(e.finalGrade !== null ? { finalGrade: e.finalGrade } : {}),
  });
}

export function toResource(r: ResourceRecord) {
  return create(ResourceSchema, {
    id: r.id,
    moduleId: r.moduleId,
    title: r.title,
    kind: r.kind,
    url: r.url,
    position: r.position,
    fileName: r.fileName,
    sizeBytes: BigInt(r.sizeBytes),
  });
}

export function toModule(m: ModuleRecord) {
  return create(ModuleSchema, {
    id: m.id,
    courseId: m.courseId,
    title: m.title,
    description: m.description,
    position: m.position,
    resources: m.resources.map(toResource),
  });
}

export function toActivity(a: ActivityRecord) {
  return create(ActivityEntrySchema, {
    id: a.id,
    actorId: a.actorId,
    action: a.action,
    resourceType: a.resourceType,
    resourceId: a.resourceId,
    details: a.details,
    createTime: ts(a.createdAt),
  });
}

export function toCourseFeedback(f: CourseFeedbackRecord) {
  return create(CourseFeedbackSchema, {
    id: f.id,
    courseId: f.courseId,
    studentId: f.studentId,
    rating: f.rating,
    comment: f.comment,
    createTime: ts(f.createdAt),
  });
}

export function toStudentFeedback(f: StudentFeedbackRecord) {
  return create(StudentFeedbackSchema, {
    id: f.id,
    courseId: f.courseId,
    studentId: f.studentId,
    authorId: f.authorId,
    score: f.score,
    comment: f.comment,
    createTime: ts(f.createdAt),
  });
}
