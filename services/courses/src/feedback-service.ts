import type { FeedbackService } from "@classconnect/gen/classconnect/courses/v1/feedback_service_pb.js";
import { pageSize, pageTokens, requireUser } from "@classconnect/platform";
import type { ServiceImpl } from "@connectrpc/connect";
import { toCourseFeedback, toStudentFeedback } from "./convert.js";
import type { Feedback } from "./domain/feedback.js";

const courseFeedbackPages = pageTokens("courses.course-feedback", "time");
const myFeedbackPages = pageTokens("courses.my-feedback", "time");

export function createFeedbackService(feedback: Feedback): ServiceImpl<typeof FeedbackService> {
  return {
    async createCourseFeedback(req, ctx) {
      const f = await feedback.rateCourse(req.courseId, requireUser(ctx).userId, req.rating, req.comment);
      return { feedback: toCourseFeedback(f) };
    },
    async listCourseFeedback(req, ctx) {
      const page = await feedback.courseFeedback(
        req.courseId,
        requireUser(ctx).userId,
        req.rating || undefined,
        pageSize(req.pageSize),
        courseFeedbackPages.read(req),
      );
      return {
        feedback: page.items.map(toCourseFeedback),
        averageRating: page.average,
        nextPageToken: courseFeedbackPages.write(page.next, req),
      };
    },
    async createStudentFeedback(req, ctx) {
      const f = await feedback.giveStudentFeedback(
        req.courseId,
        requireUser(ctx).userId,
        req.studentId,
        req.score,
        req.comment,
      );
      return { feedback: toStudentFeedback(f) };
    },
    async listMyFeedback(req, ctx) {
      const page = await feedback.myFeedback(
        requireUser(ctx).userId,
        req.courseId || undefined,
        pageSize(req.pageSize),
        myFeedbackPages.read(req),
      );
      return {
        feedback: page.items.map(toStudentFeedback),
        nextPageToken: myFeedbackPages.write(page.next, req),
      };
    },
  };
}
