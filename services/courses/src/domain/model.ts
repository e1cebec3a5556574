/** The courses service's domain records and rules that need no storage. */
import { FailedPreconditionError } from "@classconnect/platform";

export const CourseState = { ACTIVE: 1, FINISHED: 2 } as const;

/**
 * A notice's data for the terms an edit changed: for each term whose value (as written in the
 * notice) differs, `key` as it is and `previous_key` as it was.
 */
export function changedTerms(terms: Record<string, [now: string, was: string]>): Record<string, string> {
  const changed: Record<string, string> = {};
  for (const [key, [now, was]] of Object.entries(terms)) {
    if (now !== was) Object.assign(changed, { [key]: now, [`previous_${key}`]: was });
  }
  return changed;
}

/** Where a course is taught (classconnect.courses.v1.Modality). */
export const Modality = { ONLINE: 1, ON_SITE: 2 } as const;

/** What a student's write, or a change to its roster, meets in a finished course. */
export const courseReadOnly = () =>
  new FailedPreconditionError("the course has finished; it is read-only", "COURSE_FINISHED");

/** Final grades given for users who are not students of the course. */
export const gradedStrangers = (studentIds: string[]) =>
  new FailedPreconditionError(
    `final grades for students not enrolled: ${studentIds.join(", ")}`,
    "STUDENT_NOT_ENROLLED",
    { student_ids: studentIds.join(",") },
  );

/** What an assistant may do (classconnect.courses.v1.Permission). */
export const Permission = { CONTENT: 1, GRADING: 2, STUDENTS: 3, STATISTICS: 4 } as const;
export type PermissionValue = (typeof Permission)[keyof typeof Permission];
export const ALL_PERMISSIONS: PermissionValue[] = [1, 2, 3, 4];

export interface Course {
  id: string;
  ownerId: string;
  title: string;
  description: string;
  objectives: string[];
  syllabus: string;
  category: string;
  level: number;
  modality: number;
  capacity: number;
  startTime: Date;
  endTime: Date;
  enrollmentDeadline: Date;
  pictureUrl: string;
  /** The stored file behind `pictureUrl`, when it was uploaded (UploadCoursePicture). */
  pictureKey: string | null;
  passingGrade: number;
  prerequisiteIds: string[];
  minEducationLevel: number;
  state: number;
  enrolledCount: number;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** The editable fields of a course (validated by the contract before they get here). */
export type CourseFields = Pick<
  Course,
  | "title"
  | "description"
  | "objectives"
  | "syllabus"
  | "category"
  | "level"
  | "modality"
  | "capacity"
  | "startTime"
  | "endTime"
  | "enrollmentDeadline"
  | "pictureUrl"
  | "passingGrade"
  | "prerequisiteIds"
  | "minEducationLevel"
>;

/** A course as one caller sees it in a listing. */
/** A course's prerequisite, as the caller stands with it. */
export interface Prerequisite {
  courseId: string;
  title: string;
  passed: boolean;
}

export interface CourseView extends Course {
  callerEnrolled: boolean;
  callerRole: "owner" | "assistant" | "student" | "none";
  /** The caller's final grade while the course is finished, if they were given one. */
  callerFinalGrade?: number;
}

export const etagOf = (course: Pick<Course, "id" | "version">) => `W/"${course.version}"`;

export function seatsLeft(course: Pick<Course, "capacity" | "enrolledCount">): number {
  return Math.max(0, course.capacity - course.enrolledCount);
}

/** "Limited seats": the course still takes students, some seats are left, but no more than 10 % of the capacity (at least 5). */
export function limitedSeats(course: Pick<Course, "capacity" | "enrolledCount" | "state">): boolean {
  const left = seatsLeft(course);
  return (
    course.state === CourseState.ACTIVE && left > 0 && left <= Math.max(5, Math.ceil(course.capacity * 0.1))
  );
}

const CLOSING_SOON_MS = 3 * 24 * 3600_000;

/** "Enrollment closing soon": the course still takes students, and its deadline is within three days. */
export function closingSoon(course: Pick<Course, "enrollmentDeadline" | "state">, now: Date): boolean {
  const left = course.enrollmentDeadline.getTime() - now.getTime();
  return course.state === CourseState.ACTIVE && left > 0 && left <= CLOSING_SOON_MS;
}
