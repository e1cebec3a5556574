/** Ratings of courses by their students, and teachers' feedback to students. */
import { type Cursor, type Page, pageOf } from "@classconnect/platform";
import type { CourseFeedbackRecord, FeedbackStore, StudentFeedbackRecord } from "../store/feedback.js";
import { type Access, activityOf, requirePermission, requireStaff } from "./access.js";
import type { Enrollment } from "./enrollment.js";
import { Permission } from "./model.js";

export function createFeedback(deps: { feedback: FeedbackStore; access: Access; enrollment: Enrollment }) {
  const { feedback } = deps;
  return {
    async rateCourse(
      courseId: string,
      caller: string,
      rating: number,
      comment: string,
    ): Promise<CourseFeedbackRecord> {
      await deps.access.load(courseId, caller);
      await deps.enrollment.assertEnrolled(courseId, caller);
      return feedback.rateCourse(courseId, caller, rating, comment);
    },

    async courseFeedback(
      courseId: string,
      caller: string,
      rating: number | undefined,
      limit: number,
      after?: Cursor,
    ) {
      requireStaff(await deps.access.load(courseId, caller));
      const { items, average } = await feedback.courseFeedback(courseId, rating, limit + 1, after);
      const page = pageOf(items, limit, (f) => ({ key: f.createdAt.toISOString(), id: f.id }));
      return { ...page, average };
    },

    async giveStudentFeedback(
      courseId: string,
      caller: string,
      studentId: string,
      score: number,
      comment: string,
    ): Promise<StudentFeedbackRecord> {
      const access = await deps.access.load(courseId, caller);
      requirePermission(access, Permission.GRADING);
      await deps.enrollment.assertStudent(courseId, studentId);
      return feedback.giveStudentFeedback(
        { courseId, studentId, authorId: caller, score, comment },
        {
          type: "FEEDBACK_RECEIVED",
          recipients: { userIds: [studentId] },
          data: { course_id: courseId, course_title: access.course.title, score: String(score) },
        },
        activityOf(access, Permission.GRADING, "feedback.give", "student_feedback", "", `score ${score}`),
      );
    },

    async myFeedback(
      caller: string,
      courseId: string | undefined,
      limit: number,
      after?: Cursor,
    ): Promise<Page<StudentFeedbackRecord>> {
      const rows = await feedback.studentFeedback(caller, courseId, limit + 1, after);
      return pageOf(rows, limit, (f) => ({ key: f.createdAt.toISOString(), id: f.id }));
    },
  };
}

export type Feedback = ReturnType<typeof createFeedback>;
