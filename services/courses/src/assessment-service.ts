import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AssessmentInputSchema,
  type AssessmentService,
} from "@classconnect/gen/classconnect/courses/v1/assessment_service_pb.js";
import type { SubmissionService } from "@classconnect/gen/classconnect/courses/v1/submission_service_pb.js";
import { assertValid, maskedFields, pageSize, pageTokens, requireUser } from "@classconnect/platform";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  answerFromMsg,
  assessmentMaskPaths,
  fieldsFromInput,
  inputFromFields,
  scoreFromMsg,
  toAssessment,
  toMyAssessment,
  toSubmission,
} from "./assessment-convert.js";
import type { Assessments } from "./domain/assessments.js";

const assessmentPages = pageTokens("courses.assessments", "time");
const submissionPages = pageTokens("courses.submissions", "time");
const myAssessmentPages = pageTokens("courses.my-assessments", "time");

export function createAssessmentService(assessments: Assessments): ServiceImpl<typeof AssessmentService> {
  return {
    async createAssessment(req, ctx) {
      const a = await assessments.create(
        req.courseId,
        requireUser(ctx).userId,
        fieldsFromInput(req.assessment!),
      );
      return { assessment: toAssessment(a, true) };
    },
    async getAssessment(req, ctx) {
      const { a, staff, questionsShown } = await assessments.get(req.assessmentId, requireUser(ctx).userId);
      return { assessment: toAssessment(a, staff, questionsShown) };
    },
    async listAssessments(req, ctx) {
      const page = await assessments.listForTeacher(
        requireUser(ctx).userId,
        {
          ...(req.courseId ? { courseId: req.courseId } : {}),
          ...(req.state ? { state: req.state } : {}),
          ...(req.dueAfter ? { dueAfter: timestampDate(req.dueAfter) } : {}),
          ...(req.dueBefore ? { dueBefore: timestampDate(req.dueBefore) } : {}),
        },
        pageSize(req.pageSize),
        assessmentPages.read(req),
      );
      return {
        assessments: page.items.map((a) => toAssessment(a, true)),
        nextPageToken: assessmentPages.write(page.next, req),
      };
    },
    async updateAssessment(req, ctx) {
      // No assessment at all is one of empty fields: what the mask names is validated as cleared.
      const input = fieldsFromInput(req.assessment ?? create(AssessmentInputSchema));
      const changes = maskedFields(input, req.updateMask?.paths, assessmentMaskPaths);
      const a = await assessments.update(req.assessmentId, requireUser(ctx).userId, changes, (merged) =>
        assertValid(AssessmentInputSchema, inputFromFields(merged), "assessment"),
      );
      return { assessment: toAssessment(a, true) };
    },
    async deleteAssessment(req, ctx) {
      await assessments.remove(req.assessmentId, requireUser(ctx).userId);
      return {};
    },
    async publishAssessment(req, ctx) {
      return {
        assessment: toAssessment(await assessments.publish(req.assessmentId, requireUser(ctx).userId), true),
      };
    },
  };
}

export function createSubmissionService(assessments: Assessments): ServiceImpl<typeof SubmissionService> {
  return {
    async startAttempt(req, ctx) {
      const { a, s, deadline } = await assessments.start(req.assessmentId, requireUser(ctx).userId);
      return {
        submission: toSubmission(s),
        deadline: timestampFromDate(deadline),
        assessment: toAssessment(a, false),
      };
    },
    async saveAnswers(req, ctx) {
      const { s, deadline } = await assessments.saveAnswers(
        req.assessmentId,
        requireUser(ctx).userId,
        req.answers.map(answerFromMsg),
      );
      return { submission: toSubmission(s), deadline: timestampFromDate(deadline) };
    },
    async submitAssessment(req, ctx) {
      const s = await assessments.submit(
        req.assessmentId,
        requireUser(ctx).userId,
        req.answers.map(answerFromMsg),
      );
      return { submission: toSubmission(s) };
    },
    async getSubmission(req, ctx) {
      return {
        submission: toSubmission(await assessments.getSubmission(req.submissionId, requireUser(ctx).userId)),
      };
    },
    async listSubmissions(req, ctx) {
      const page = await assessments.listSubmissions(
        req.assessmentId,
        requireUser(ctx).userId,
        req.state || undefined,
        pageSize(req.pageSize),
        submissionPages.read(req),
      );
      return {
        submissions: page.items.map(toSubmission),
        nextPageToken: submissionPages.write(page.next, req),
      };
    },
    async listMyAssessments(req, ctx) {
      const page = await assessments.listForStudent(
        requireUser(ctx).userId,
        {
          ...(req.courseId ? { courseId: req.courseId } : {}),
          ...(req.status ? { status: req.status } : {}),
        },
        pageSize(req.pageSize),
        myAssessmentPages.read(req),
      );
      return {
        assessments: page.items.map(toMyAssessment),
        nextPageToken: myAssessmentPages.write(page.next, req),
      };
    },
    async gradeSubmission(req, ctx) {
      const s = await assessments.grade(
        req.submissionId,
        requireUser(ctx).userId,
        req.scores.map(scoreFromMsg),
        req.feedback,
        req.expectedVersion || undefined,
      );
      return { submission: toSubmission(s) };
    },
    async finalizeGrade(req, ctx) {
      return {
        submission: toSubmission(
          await assessments.finalize(
            req.submissionId,
            requireUser(ctx).userId,
            req.expectedVersion || undefined,
          ),
        ),
      };
    },
  };
}
