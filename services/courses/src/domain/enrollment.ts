/** Enrolling: capacity, deadline, eligibility; leaving; removal by teachers. */
import {
  AlreadyExistsError,
  type Cursor,
  FailedPreconditionError,
  NotFoundError,
  type Page,
  PermissionDeniedError,
  pageOf,
} from "@classconnect/platform";
import type { UsersDirectory } from "../ports/users-directory.js";
import type { EnrollmentRecord, EnrollmentStore } from "../store/enrollments.js";
import {
  type Access,
  activityOf,
  requirePermission,
  requireRunning,
  requireStaff,
  seesGrades,
} from "./access.js";
import { CourseState, Permission } from "./model.js";

export function createEnrollment(deps: {
  enrollments: EnrollmentStore;
  access: Access;
  users: UsersDirectory;
  now: () => Date;
}) {
  const { enrollments } = deps;

  /** The eligibility criteria of a course that `studentId` does not meet, prerequisites first. */
  async function unmetCriteria(courseId: string, minEducationLevel: number, studentId: string) {
    const [missing, standing] = await Promise.all([
      enrollments.missingPrerequisites(courseId, studentId),
      minEducationLevel > 0 ? deps.users.standing(studentId) : undefined,
    ]);
    const unmet: { reason: string; message: string; metadata: Record<string, string> }[] = [];
    if (missing.length > 0) {
      unmet.push({
        reason: "PREREQUISITE_MISSING",
        message: "you have not passed every prerequisite course",
        metadata: { course_ids: missing.join(",") },
      });
    }
    if (standing && standing.educationLevel < minEducationLevel) {
      unmet.push({
        reason: "EDUCATION_LEVEL_TOO_LOW",
        message: "your education level is below the course's minimum (update it in your profile)",
        metadata: { required_level: String(minEducationLevel), your_level: String(standing.educationLevel) },
      });
    }
    return unmet;
  }

  return {
    async enroll(courseId: string, studentId: string): Promise<EnrollmentRecord> {
      const access = await deps.access.load(courseId, studentId);
      const { course } = access;
      const teaching = () =>
        new FailedPreconditionError("teachers cannot enroll in their own course", "TEACHER_CANNOT_ENROLL");
      if (access.role === "owner" || access.role === "assistant") throw teaching();
      // Before the seat and deadline checks: an enrolled student is told so, not that the course is full.
      if (access.role === "student") {
        throw new AlreadyExistsError("you are already enrolled in this course", "ALREADY_ENROLLED");
      }
      const finished = () => new FailedPreconditionError("the course has finished", "COURSE_FINISHED");
      if (course.state === CourseState.FINISHED) throw finished();
      if (course.enrollmentDeadline <= deps.now()) {
        throw new FailedPreconditionError(
          `enrollment closed on ${course.enrollmentDeadline.toISOString()}`,
          "ENROLLMENT_CLOSED",
          { enrollment_deadline: course.enrollmentDeadline.toISOString() },
        );
      }
      const unmet = await unmetCriteria(course.id, course.minEducationLevel, studentId);
      if (unmet.length > 0) {
        // Every criterion the student misses, at once: meeting one should not reveal the next.
        // The first names the error's reason; `unmet` lists them all.
        throw new FailedPreconditionError(
          unmet.map((u) => u.message).join(", and "),
          unmet[0]!.reason,
          Object.assign({ unmet: unmet.map((u) => u.reason).join(",") }, ...unmet.map((u) => u.metadata)),
        );
      }
      const result = await enrollments.enroll(courseId, studentId, {
        type: "ENROLLED",
        recipients: { userIds: [studentId] },
        data: { course_id: courseId, course_title: course.title },
      });
      // Checked again where the seat is taken: the course may have finished, gone or made them
      // an assistant since it was read.
      if (result === "teaching") throw teaching();
      if (result === "finished") throw finished();
      if (result === "gone") throw new NotFoundError("course");
      if (result === "full") {
        throw new FailedPreconditionError("the course is full", "COURSE_FULL", {
          capacity: String(course.capacity),
        });
      }
      return result;
    },

    async unenroll(courseId: string, studentId: string): Promise<void> {
      const access = await deps.access.load(courseId, studentId);
      if (access.role !== "student") throw new NotFoundError("enrollment");
      requireRunning(access);
      await enrollments.remove(courseId, studentId);
    },

    async removeStudent(courseId: string, caller: string, studentId: string, reason: string): Promise<void> {
      const access = await deps.access.load(courseId, caller);
      requirePermission(access, Permission.STUDENTS);
      requireRunning(access);
      const removed = await enrollments.remove(courseId, studentId, {
        event: {
          type: "STUDENT_REMOVED",
          recipients: { userIds: [studentId] },
          data: { course_id: courseId, course_title: access.course.title, reason },
        },
        activity: activityOf(access, Permission.STUDENTS, "student.remove", "enrollment", studentId, reason),
      });
      if (!removed) throw new NotFoundError("enrollment");
    },

    async students(
      courseId: string,
      caller: string,
      limit: number,
      after?: Cursor,
    ): Promise<Page<EnrollmentRecord>> {
      const access = await deps.access.load(courseId, caller);
      requireStaff(access);
      const rows = await enrollments.list(courseId, limit + 1, after);
      const page = pageOf(rows, limit, (e) => ({ key: e.enrolledAt.toISOString(), id: e.studentId }));
      if (seesGrades(access)) return page;
      return { ...page, items: page.items.map((e) => ({ ...e, finalGrade: null })) };
    },

    /** Ids of a course's students, for other services (notifications). */
    async studentIds(courseId: string, limit: number, after?: Cursor): Promise<Page<string>> {
      const rows = await enrollments.studentIds(courseId, limit + 1, after?.id);
      return pageOf(rows, limit, (id) => ({ key: "", id }));
    },

    /** Refuses the caller unless they are enrolled in the course. */
    async assertEnrolled(courseId: string, caller: string): Promise<void> {
      if (!(await enrollments.get(courseId, caller))) {
        throw new PermissionDeniedError("only students enrolled in the course can do this", "NOT_ENROLLED");
      }
    },

    /** Refuses a teacher's action on `studentId` unless that user is enrolled in the course. */
    async assertStudent(courseId: string, studentId: string): Promise<void> {
      if (!(await enrollments.get(courseId, studentId))) {
        throw new FailedPreconditionError(
          "this user is not a student of the course",
          "STUDENT_NOT_ENROLLED",
          {
            student_id: studentId,
          },
        );
      }
    },
  };
}

export type Enrollment = ReturnType<typeof createEnrollment>;
