import { NotFoundError, PermissionDeniedError } from "@classconnect/platform";
import type { CourseStore } from "../store/courses.js";
import type { EnrollmentStore } from "../store/enrollments.js";
import type { Activity, StaffStore } from "../store/staff.js";
import {
  ALL_PERMISSIONS,
  type Course,
  CourseState,
  courseReadOnly,
  Permission,
  type PermissionValue,
} from "./model.js";

/** The caller's standing in one course. */
export interface CourseAccess {
  course: Course;
  userId: string;
  role: "owner" | "assistant" | "student" | "none";
  permissions: readonly PermissionValue[];
}

const permissionNames: Record<PermissionValue, string> = {
  1: "content",
  2: "grading",
  3: "students",
  4: "statistics",
};

export function createAccess(stores: {
  courses: CourseStore;
  staff: StaffStore;
  enrollments: EnrollmentStore;
}) {
  return {
    /** Loads the course (NOT_FOUND when missing or deleted) and the caller's role in it. */
    async load(courseId: string, userId: string): Promise<CourseAccess> {
      const course = await stores.courses.get(courseId);
      if (!course) throw new NotFoundError("course");
      if (course.ownerId === userId) return { course, userId, role: "owner", permissions: ALL_PERMISSIONS };
      const assistant = await stores.staff.assistant(courseId, userId);
      if (assistant) return { course, userId, role: "assistant", permissions: assistant.permissions };
      const enrollment = await stores.enrollments.get(courseId, userId);
      return { course, userId, role: enrollment ? "student" : "none", permissions: [] };
    },
  };
}

export type Access = ReturnType<typeof createAccess>;

export function requireOwner(a: CourseAccess): void {
  if (a.role !== "owner")
    throw new PermissionDeniedError("only the course owner can do this", "NOT_COURSE_OWNER");
}

/** The owner, or an assistant holding `permission`. */
export function requirePermission(a: CourseAccess, permission: PermissionValue): void {
  if (a.role === "owner") return;
  if (a.role === "assistant" && a.permissions.includes(permission)) return;
  throw new PermissionDeniedError(
    a.role === "assistant"
      ? `your assistant role lacks the ${permissionNames[permission]} permission`
      : "only the course's teachers can do this",
    a.role === "assistant" ? "MISSING_PERMISSION" : "NOT_COURSE_STAFF",
  );
}

export function requireStaff(a: CourseAccess): void {
  if (a.role !== "owner" && a.role !== "assistant") {
    throw new PermissionDeniedError("only the course's teachers can do this", "NOT_COURSE_STAFF");
  }
}

/**
 * Whether a teacher may see the course's grades: the owner, and assistants who grade or who
 * read the statistics (the CSV export lists every student's grades). Other assistants (content,
 * managing students) see who is enrolled, not how they did.
 */
export function seesGrades(a: CourseAccess): boolean {
  return (
    a.role === "owner" ||
    (a.role === "assistant" &&
      (a.permissions.includes(Permission.GRADING) || a.permissions.includes(Permission.STATISTICS)))
  );
}

/** Refuses a student's write to a finished course (read-only for students). */
export function requireRunning(a: CourseAccess): void {
  if (a.course.state === CourseState.FINISHED) throw courseReadOnly();
}

/** Staff or an enrolled student: who may see a course's content. */
export function requireMember(a: CourseAccess): void {
  if (a.role === "none") {
    throw new PermissionDeniedError("enroll in the course to see its content", "NOT_COURSE_MEMBER");
  }
}

/**
 * The activity-log entry for an action, when an assistant (not the owner) takes it with
 * `permission` (the one the method required): it is logged only while they still hold it.
 */
export function activityOf(
  a: CourseAccess,
  permission: PermissionValue,
  action: string,
  resourceType: string,
  resourceId = "",
  details = "",
): Activity | undefined {
  if (a.role !== "assistant") return undefined;
  return { courseId: a.course.id, actorId: a.userId, permission, action, resourceType, resourceId, details };
}

/** An edit's details for the activity log: the fields it changed, as the contract names them. */
export function changedFields(changes: object): string {
  const names = Object.entries(changes)
    .filter(([, value]) => value !== undefined)
    .map(([key]) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
  return `changed ${names.join(", ")}`;
}
