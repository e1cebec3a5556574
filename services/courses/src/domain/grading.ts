/**
 * The rules of assessments that need neither storage nor Protobuf: question
 * and answer validation, auto-grading, late policy and totals.
 */
import { type FieldViolation, InvalidArgumentError } from "@classconnect/platform";

export const AssessmentKind = { TASK: 1, EXAM: 2 } as const;
export const AssessmentState = { DRAFT: 1, PUBLISHED: 2 } as const;
export const LatePolicy = { REJECT: 1, ACCEPT_FLAGGED: 2, PENALTY: 3 } as const;
export const QuestionKind = {
  FREE_TEXT: 1,
  SINGLE_CHOICE: 2,
  MULTIPLE_CHOICE: 3,
  TRUE_FALSE: 4,
  FILE_UPLOAD: 5,
} as const;
export const SubmissionState = { IN_PROGRESS: 1, SUBMITTED: 2, GRADED: 3, FINALIZED: 4 } as const;

export interface ChoiceOption {
  id: string;
  text: string;
  correct: boolean;
}

export interface Question {
  id: string;
  kind: number;
  prompt: string;
  points: number;
  options: ChoiceOption[];
  correctBool: boolean;
}

export interface Answer {
  questionId: string;
  text: string;
  optionIds: string[];
  boolValue?: boolean;
  fileName: string;
  /** A link that reads the file: made for each caller allowed to read the submission, short-lived. */
  fileUrl: string;
  /** Where the file is stored (a private blob key). */
  fileKey?: string;
  /** Only while submitting; stored under fileKey. */
  fileContent?: Uint8Array;
}

export interface Score {
  questionId: string;
  score: number;
  feedback: string;
  autoGraded: boolean;
}

/** Structural rules for questions beyond the contract's field rules. */
export function questionViolations(questions: Question[], field = "assessment.questions"): FieldViolation[] {
  const out: FieldViolation[] = [];
  const ids = new Set<string>();
  questions.forEach((q, i) => {
    const at = `${field}[${i}]`;
    if (ids.has(q.id)) out.push({ field: `${at}.id`, description: "question ids must be unique" });
    ids.add(q.id);
    const choice = q.kind === QuestionKind.SINGLE_CHOICE || q.kind === QuestionKind.MULTIPLE_CHOICE;
    if (choice) {
      const optionIds = new Set(q.options.map((o) => o.id));
      const correct = q.options.filter((o) => o.correct).length;
      if (q.options.length < 2)
        out.push({ field: `${at}.options`, description: "choice questions need at least 2 options" });
      else if (optionIds.size !== q.options.length)
        out.push({ field: `${at}.options`, description: "option ids must be unique" });
      else if (q.kind === QuestionKind.SINGLE_CHOICE && correct !== 1) {
        out.push({
          field: `${at}.options`,
          description: "a single-choice question needs exactly one correct option",
        });
      } else if (q.kind === QuestionKind.MULTIPLE_CHOICE && correct < 1) {
        out.push({
          field: `${at}.options`,
          description: "a multiple-choice question needs at least one correct option",
        });
      }
    } else if (q.options.length > 0) {
      out.push({ field: `${at}.options`, description: "only choice questions have options" });
    }
  });
  return out;
}

/** Answers must name known questions, once each, in the shape their kind needs. */
export function answerViolations(questions: Question[], answers: Answer[]): FieldViolation[] {
  const out: FieldViolation[] = [];
  const byId = new Map(questions.map((q) => [q.id, q]));
  const seen = new Set<string>();
  answers.forEach((a, i) => {
    const at = `answers[${i}]`;
    const q = byId.get(a.questionId);
    if (!q) {
      out.push({
        field: `${at}.question_id`,
        description: `no question "${a.questionId}" in this assessment`,
        reason: "UNKNOWN_QUESTION",
      });
      return;
    }
    if (seen.has(a.questionId))
      out.push({ field: `${at}.question_id`, description: "answer each question once" });
    seen.add(a.questionId);
    switch (q.kind) {
      case QuestionKind.SINGLE_CHOICE:
      case QuestionKind.MULTIPLE_CHOICE: {
        const known = new Set(q.options.map((o) => o.id));
        const unknown = a.optionIds.filter((id) => !known.has(id));
        if (unknown.length > 0) {
          out.push({
            field: `${at}.option_ids`,
            description: `unknown options: ${unknown.join(", ")}`,
            reason: "UNKNOWN_OPTION",
          });
        } else if (q.kind === QuestionKind.SINGLE_CHOICE && a.optionIds.length > 1) {
          out.push({ field: `${at}.option_ids`, description: "choose one option" });
        }
        break;
      }
      case QuestionKind.TRUE_FALSE:
        if (a.boolValue === undefined)
          out.push({ field: `${at}.bool_value`, description: "answer true or false" });
        break;
      case QuestionKind.FILE_UPLOAD:
        if (!a.fileContent?.length || !a.fileName) {
          out.push({ field: `${at}.file_content`, description: "upload a file with a file name" });
        }
        break;
    }
  });
  return out;
}

export function assertNoViolations(violations: FieldViolation[]): void {
  if (violations.length > 0) throw new InvalidArgumentError(violations);
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));

/** Scores choice and true/false answers; the rest wait for a teacher. Unanswered questions score 0. */
export function autoGrade(questions: Question[], answers: Answer[]): { scores: Score[]; pending: string[] } {
  const byQuestion = new Map(answers.map((a) => [a.questionId, a]));
  const scores: Score[] = [];
  const pending: string[] = [];
  for (const q of questions) {
    const a = byQuestion.get(q.id);
    const auto = (right: boolean) =>
      scores.push({ questionId: q.id, score: right ? q.points : 0, feedback: "", autoGraded: true });
    switch (q.kind) {
      case QuestionKind.SINGLE_CHOICE:
      case QuestionKind.MULTIPLE_CHOICE:
        auto(
          a !== undefined &&
            sameSet(
              a.optionIds,
              q.options.filter((o) => o.correct).map((o) => o.id),
            ),
        );
        break;
      case QuestionKind.TRUE_FALSE:
        auto(a?.boolValue === q.correctBool);
        break;
      default:
        if (a) pending.push(q.id);
        else scores.push({ questionId: q.id, score: 0, feedback: "not answered", autoGraded: true });
    }
  }
  return { scores, pending };
}

export interface Totals {
  total: number;
  max: number;
  percent: number;
  passed: boolean;
}

/** What an assessment's questions are worth together. */
export const maxPoints = (questions: Question[]) => questions.reduce((sum, q) => sum + q.points, 0);

/** The total is always computed here, from the per-question scores, with any late penalty. */
export function totals(
  questions: Question[],
  scores: Score[],
  options: { late: boolean; latePolicy: number; penaltyPercent: number; passingScore: number },
): Totals {
  const max = maxPoints(questions);
  let total = scores.reduce((sum, s) => sum + s.score, 0);
  if (options.late && options.latePolicy === LatePolicy.PENALTY) total *= 1 - options.penaltyPercent / 100;
  total = Math.round(total * 100) / 100;
  const percent = max > 0 ? Math.round((total / max) * 10000) / 100 : 0;
  return { total, max, percent, passed: percent >= options.passingScore };
}

/** Whether work handed in at `at` is late: after the due time plus grace, or past an exam's time limit. */
export function lateness(
  a: { dueTime: Date; gracePeriodMinutes: number; timeLimitMinutes: number; kind: number },
  at: Date,
  startedAt?: Date | null,
): { pastDue: boolean; overTime: boolean } {
  const pastDue = at.getTime() > a.dueTime.getTime() + a.gracePeriodMinutes * 60_000;
  const overTime =
    a.kind === AssessmentKind.EXAM && startedAt
      ? at.getTime() > startedAt.getTime() + a.timeLimitMinutes * 60_000
      : false;
  return { pastDue, overTime };
}

/** Whether the assessment takes no more hand-ins at `at`: it refuses late work and is past due (grace included). */
export function closedToHandIns(
  a: Parameters<typeof lateness>[0] & { latePolicy: number },
  at: Date,
): boolean {
  return a.latePolicy === LatePolicy.REJECT && lateness(a, at).pastDue;
}
