/** Conversions for assessments and submissions between domain records and Protobuf messages. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AssessmentSchema,
  type Question as QuestionMsg,
} from "@classconnect/gen/classconnect/courses/v1/assessment_pb.js";
import {
  type AssessmentInput,
  AssessmentInputSchema,
} from "@classconnect/gen/classconnect/courses/v1/assessment_service_pb.js";
import {
  type Answer as AnswerMsg,
  MyAssessmentSchema,
  type QuestionScore,
  SubmissionSchema,
} from "@classconnect/gen/classconnect/courses/v1/submission_pb.js";
import { dateOrUnset, timestampOrUnset } from "@classconnect/platform";
import { type Answer, maxPoints, type Question, type Score } from "./domain/grading.js";
import type { AssessmentFields, AssessmentRecord, SubmissionRecord } from "./store/assessments.js";

const ts = (d: Date) => timestampFromDate(d);

export const questionFromMsg = (q: QuestionMsg): Question => ({
  id: q.id,
  kind: q.kind,
  prompt: q.prompt,
  points: q.points,
  options: q.options.map((o) => ({ id: o.id, text: o.text, correct: o.correct })),
  correctBool: q.correctBool,
});

export function fieldsFromInput(i: AssessmentInput): AssessmentFields {
  return {
    kind: i.kind,
    title: i.title.trim(),
    description: i.description,
    instructions: i.instructions,
    dueTime: dateOrUnset(i.dueTime),
    gracePeriodMinutes: i.gracePeriodMinutes,
    latePolicy: i.latePolicy,
    latePenaltyPercent: i.latePenaltyPercent,
    timeLimitMinutes: i.timeLimitMinutes,
    questions: i.questions.map(questionFromMsg),
    passingScore: i.passingScore,
  };
}

export function inputFromFields(f: AssessmentFields): AssessmentInput {
  return create(AssessmentInputSchema, {
    kind: f.kind,
    title: f.title,
    description: f.description,
    instructions: f.instructions,
    dueTime: timestampOrUnset(f.dueTime),
    gracePeriodMinutes: f.gracePeriodMinutes,
    latePolicy: f.latePolicy,
    latePenaltyPercent: f.latePenaltyPercent,
    timeLimitMinutes: f.timeLimitMinutes,
    questions: f.questions,
    passingScore: f.passingScore,
  });
}

/** Update-mask paths of AssessmentInput and the domain field each one sets. */
export const assessmentMaskPaths: Record<string, keyof AssessmentFields> = {
  kind: "kind",
  title: "title",
  description: "description",
  instructions: "instructions",
  due_time: "dueTime",
  grace_period_minutes: "gracePeriodMinutes",
  late_policy: "latePolicy",
  late_penalty_percent: "latePenaltyPercent",
  time_limit_minutes: "timeLimitMinutes",
  questions: "questions",
  passing_score: "passingScore",
};

/**
 * Students never see which options are correct, and see an exam's questions only with
 * `questionsShown` (once they have started it); their count and points always.
 */
export function toAssessment(a: AssessmentRecord, staff: boolean, questionsShown = true) {
  return create(AssessmentSchema, {
    id: a.id,
    courseId: a.courseId,
    kind: a.kind,
    title: a.title,
    description: a.description,
    instructions: a.instructions,
    dueTime: ts(a.dueTime),
    gracePeriodMinutes: a.gracePeriodMinutes,
    latePolicy: a.latePolicy,
    latePenaltyPercent: a.latePenaltyPercent,
    timeLimitMinutes: a.timeLimitMinutes,
    questions: questionsShown
      ? a.questions.map((q) => ({
          ...q,
          options: q.options.map((o) => ({ ...o, correct: staff && o.correct })),
          correctBool: staff && q.correctBool,
        }))
      : [],
    questionCount: a.questions.length,
    totalPoints: maxPoints(a.questions),
    passingScore: a.passingScore,
    state: a.state,
    submissionCount: a.submissionCount,
    createTime: ts(a.createdAt),
    updateTime: ts(a.updatedAt),
  });
}

export const answerFromMsg = (a: AnswerMsg): Answer => ({
  questionId: a.questionId,
  text: a.text,
  optionIds: a.optionIds,
  ...(a.boolValue !== undefined ? { boolValue: a.boolValue } : {}),
  fileName: a.fileName,
  fileUrl: "",
  fileContent: a.fileContent,
});

export const scoreFromMsg = (s: QuestionScore): Score => ({
  questionId: s.questionId,
  score: s.score,
  feedback: s.feedback,
  autoGraded: false,
});

export function toSubmission(s: SubmissionRecord) {
  return create(SubmissionSchema, {
    id: s.id,
    assessmentId: s.assessmentId,
    studentId: s.studentId,
    state: s.state,
    answers: s.answers.map((a) => ({
      questionId: a.questionId,
      text: a.text,
      optionIds: a.optionIds,
      ...(a.boolValue !== undefined ? { boolValue: a.boolValue } : {}),
      fileName: a.fileName,
      fileUrl: a.fileUrl,
    })),
    ...(s.startedAt ? { startTime: ts(s.startedAt) } : {}),
    ...(s.submittedAt ? { submitTime: ts(s.submittedAt) } : {}),
    late: s.late,
    scores: s.scores,
    totalScore: s.totalScore,
    maxScore: s.maxScore,
    gradePercent: s.gradePercent ?? 0,
    passed: s.passed ?? false,
    feedback: s.feedback,
    pendingQuestionIds: s.pendingQuestionIds,
    version: s.version,
  });
}

export function toMyAssessment(r: {
  assessmentId: string;
  courseId: string;
  title: string;
  dueTime: Date;
  status: string;
  gradePercent: number | null;
}) {
  return create(MyAssessmentSchema, {
    assessmentId: r.assessmentId,
    courseId: r.courseId,
    title: r.title,
    dueTime: ts(r.dueTime),
    status: r.status,
    ...(r.gradePercent !== null ? { gradePercent: r.gradePercent } : {}),
  });
}
