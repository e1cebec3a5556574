/** Tasks and exams: authoring, publishing, hand-ins, grading. */
import {
  type BlobStore,
  type Cursor,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  type OutboxEvent,
  type Page,
  PermissionDeniedError,
  pageOf,
  recordingBlobs,
} from "@classconnect/platform";
import type {
  AssessmentFields,
  AssessmentRecord,
  AssessmentStore,
  DeadlineTerms,
  SubmissionRecord,
  SubmissionUpdate,
  TermsChange,
} from "../store/assessments.js";
import {
  type Access,
  activityOf,
  type CourseAccess,
  changedFields,
  requirePermission,
  requireRunning,
  requireStaff,
} from "./access.js";
import { fileLink, privateFileKey } from "./files.js";
import {
  type Answer,
  AssessmentKind,
  AssessmentState,
  answerViolations,
  assertNoViolations,
  autoGrade,
  closedToHandIns,
  LatePolicy,
  lateness,
  questionViolations,
  type Score,
  SubmissionState,
  totals,
} from "./grading.js";
import { CourseState, changedTerms, Permission } from "./model.js";

/** Late policies by number, named as the contract names them ("REJECT", …) in notices. */
const LATE_POLICY_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(LatePolicy).map(([name, n]) => [n, name]),
);

/**
 * The notice of a published assessment's changed terms, made from the row as it was and is:
 * DUE_TIME_CHANGED when the due time moved (naming any other term that changed with it),
 * ASSESSMENT_TERMS_CHANGED when only the grace period, the late policy or the time limit
 * did; none when nothing students rely on changed.
 */
function termsNotice(
  courseId: string,
  courseTitle: string,
  assessmentId: string,
  { title, before, after }: TermsChange,
): OutboxEvent | undefined {
  const changed = changedTerms({
    due_time: [after.dueTime.toISOString(), before.dueTime.toISOString()],
    grace_period_minutes: [String(after.gracePeriodMinutes), String(before.gracePeriodMinutes)],
    time_limit_minutes: [String(after.timeLimitMinutes), String(before.timeLimitMinutes)],
  });
  const moved = "due_time" in changed;
  // The policy and its penalty are named together: a percent means nothing without its policy.
  const penalty = (t: DeadlineTerms) => (t.latePolicy === LatePolicy.PENALTY ? t.latePenaltyPercent : 0);
  if (after.latePolicy !== before.latePolicy || penalty(after) !== penalty(before)) {
    changed["late_policy"] = LATE_POLICY_NAMES[after.latePolicy] ?? "";
    changed["late_penalty_percent"] = String(penalty(after));
    changed["previous_late_policy"] = LATE_POLICY_NAMES[before.latePolicy] ?? "";
    changed["previous_late_penalty_percent"] = String(penalty(before));
  }
  if (Object.keys(changed).length === 0) return undefined;
  return {
    type: moved ? "DUE_TIME_CHANGED" : "ASSESSMENT_TERMS_CHANGED",
    recipients: { courseId },
    data: {
      course_id: courseId,
      course_title: courseTitle,
      assessment_id: assessmentId,
      assessment_title: title,
      ...changed,
    },
  };
}

export function createAssessments(deps: {
  store: AssessmentStore;
  access: Access;
  blobs: BlobStore;
  now: () => Date;
}) {
  const { store } = deps;

  async function load(
    assessmentId: string,
    caller: string,
  ): Promise<{ a: AssessmentRecord; access: CourseAccess }> {
    const a = await store.get(assessmentId);
    if (!a) throw new NotFoundError("assessment");
    const access = await deps.access.load(a.courseId, caller);
    return { a, access };
  }

  /** A submission and the caller's access to its course, for a caller who may grade it. */
  async function forGrading(
    submissionId: string,
    caller: string,
  ): Promise<{ s: SubmissionRecord; access: CourseAccess }> {
    const s = await store.submission(submissionId);
    if (!s) throw new NotFoundError("submission");
    const access = await deps.access.load(s.courseId, caller);
    requirePermission(access, Permission.GRADING);
    return { s, access };
  }

  /** Staff see everything; enrolled students see published work only. */
  function canSee(a: AssessmentRecord, access: CourseAccess): boolean {
    if (access.role === "owner" || access.role === "assistant") return true;
    return access.role === "student" && a.state === AssessmentState.PUBLISHED;
  }

  function fieldViolations(f: AssessmentFields, prefix: string) {
    const out = questionViolations(f.questions, `${prefix}.questions`);
    if (f.kind === AssessmentKind.TASK && f.timeLimitMinutes !== 0) {
      out.push({ field: `${prefix}.time_limit_minutes`, description: "tasks have no time limit; use 0" });
    }
    if (f.latePolicy === LatePolicy.PENALTY && f.latePenaltyPercent === 0) {
      out.push({
        field: `${prefix}.late_penalty_percent`,
        description: "a penalty policy needs a penalty above 0",
      });
    }
    return out;
  }

  /** For a student: scores and grade only once the grade is final. */
  function studentView(s: SubmissionRecord): SubmissionRecord {
    if (s.state === SubmissionState.FINALIZED) return s;
    return {
      ...s,
      scores: [],
      totalScore: 0,
      gradePercent: null,
      passed: null,
      feedback: "",
    } satisfies SubmissionRecord;
  }

  async function storeFiles(courseId: string, answers: Answer[]): Promise<Answer[]> {
    return Promise.all(
      answers.map(async (ans) => {
        if (!ans.fileContent?.length) {
          const { fileContent: _, ...rest } = ans;
          return rest;
        }
        // Private: read only through the links readable() makes for the student and graders.
        const fileKey = privateFileKey("submissions", courseId, ans.fileName);
        await deps.blobs.put(fileKey, ans.fileContent);
        const { fileContent: _, ...rest } = ans;
        return { ...rest, fileKey, fileUrl: "" };
      }),
    );
  }

  /**
   * Deletes the files of `before` that `after` no longer holds (an edited hand-in). The
   * submission is already saved: a file left behind by a failed delete is only garbage.
   */
  async function removeReplacedFiles(before: Answer[], after: Answer[]): Promise<void> {
    const kept = new Set(after.map((a) => a.fileKey));
    const replaced = before.flatMap((a) => (a.fileKey && !kept.has(a.fileKey) ? [a.fileKey] : []));
    await Promise.allSettled(replaced.map((key) => deps.blobs.delete(key)));
  }

  /**
   * Runs `write`, which saves the answers whose files `stored` just put; those files go
   * again when it saves nothing (undefined) or fails (the course finished meanwhile, …).
   */
  async function savingFiles<T>(
    stored: Answer[],
    write: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const keys = stored.flatMap((a) => (a.fileKey ? [a.fileKey] : []));
    const saved = await recordingBlobs(deps.blobs, keys, write);
    if (saved === undefined) await removeReplacedFiles(stored, []);
    return saved;
  }

  /**
   * A hand-in of `answers` at `at`: auto-graded, the late policy applied. SUBMITTED until a
   * teacher grades: a task stays editable, and auto-scores can be reviewed.
   */
  function handedIn(a: AssessmentRecord, answers: Answer[], at: Date, late: boolean): SubmissionUpdate {
    const { scores, pending } = autoGrade(a.questions, answers);
    return {
      state: SubmissionState.SUBMITTED,
      answers,
      submittedAt: at,
      late,
      ...scored(a, scores, pending, late),
    };
  }

  /** A submission's score fields: `scores` (and `pending` still to grade) totalled, the late policy applied. */
  function scored(a: AssessmentRecord, scores: Score[], pending: string[], late: boolean) {
    const t = totals(a.questions, scores, {
      late,
      latePolicy: a.latePolicy,
      penaltyPercent: a.latePenaltyPercent,
      passingScore: a.passingScore,
    });
    return {
      scores,
      totalScore: t.total,
      maxScore: t.max,
      gradePercent: t.percent,
      // Not decided while questions wait for a grader: their points could still tip it.
      passed: pending.length > 0 ? null : t.passed,
      pendingQuestionIds: pending,
    };
  }

  /**
   * When an exam attempt started at `startedAt` ends: its time limit. At an exam that rejects
   * late work, the due time (with grace) if sooner: nothing after it could be handed in. Where
   * late work is taken, an attempt gets its whole time limit, even one started after the due
   * time; what is handed in after the due time is late.
   */
  const attemptEnds = (a: AssessmentRecord, startedAt: Date) => {
    const limit = startedAt.getTime() + a.timeLimitMinutes * 60_000;
    if (a.latePolicy !== LatePolicy.REJECT) return new Date(limit);
    return new Date(Math.min(limit, a.dueTime.getTime() + a.gracePeriodMinutes * 60_000));
  };

  /** `s` as its reader gets it: each stored file with a short-lived link that reads it. */
  async function readable(s: SubmissionRecord): Promise<SubmissionRecord> {
    if (!s.answers.some((a) => a.fileKey)) return s;
    const answers = await Promise.all(
      s.answers.map(async ({ fileKey, ...a }) =>
        fileKey ? { ...a, fileUrl: await fileLink(deps.blobs, fileKey) } : a,
      ),
    );
    return { ...s, answers };
  }

  return {
    async create(courseId: string, caller: string, f: AssessmentFields): Promise<AssessmentRecord> {
      const access = await deps.access.load(courseId, caller);
      requirePermission(access, Permission.CONTENT);
      assertNoViolations(fieldViolations(f, "assessment"));
      return store.create(
        courseId,
        f,
        activityOf(access, Permission.CONTENT, "assessment.create", "assessment", "", f.title),
      );
    },

    /**
     * An assessment as `caller` may read it. A student sees an exam's questions only once they
     * have started it (`questionsShown`), so that they have them only for the time limit.
     */
    async get(
      assessmentId: string,
      caller: string,
    ): Promise<{ a: AssessmentRecord; staff: boolean; questionsShown: boolean }> {
      const { a, access } = await load(assessmentId, caller);
      if (access.role === "none") {
        throw new PermissionDeniedError("enroll in the course to see its assessments", "NOT_COURSE_MEMBER");
      }
      if (!canSee(a, access)) throw new NotFoundError("assessment");
      const staff = access.role !== "student";
      const questionsShown =
        staff || a.kind !== AssessmentKind.EXAM || (await store.submissionOf(a.id, caller)) !== undefined;
      return { a, staff, questionsShown };
    },

    async listForTeacher(
      caller: string,
      filter: { courseId?: string; state?: number; dueAfter?: Date; dueBefore?: Date },
      limit: number,
      after?: Cursor,
    ): Promise<Page<AssessmentRecord>> {
      if (filter.courseId) requireStaff(await deps.access.load(filter.courseId, caller));
      const rows = await store.listForTeacher(caller, filter, limit + 1, after);
      return pageOf(rows, limit, (a) => ({ key: a.dueTime.toISOString(), id: a.id }));
    },

    /**
     * Applies masked changes. Once a student has started the exam or handed in work, the
     * questions are locked and an exam's time limit can only grow: the attempts under way
     * were started against them. `validate` sees the result.
     */
    async update(
      assessmentId: string,
      caller: string,
      changes: Partial<AssessmentFields>,
      validate: (merged: AssessmentFields) => void,
    ): Promise<AssessmentRecord> {
      const { a, access } = await load(assessmentId, caller);
      requirePermission(access, Permission.CONTENT);
      const shortens =
        changes.timeLimitMinutes !== undefined && changes.timeLimitMinutes < a.timeLimitMinutes;
      // Checked by the store under the assessment's lock, so that no student starts or hands in meanwhile.
      const refusedOnceWorkExists = changes.questions
        ? () =>
            new FailedPreconditionError(
              "questions cannot change once students have started or handed in; create a new assessment instead",
              "QUESTIONS_LOCKED",
            )
        : shortens
          ? () =>
              new FailedPreconditionError(
                "the time limit cannot shrink once students have started the exam; it can grow",
                "TIME_LIMIT_LOCKED",
              )
          : undefined;
      if (changes.kind !== undefined && changes.kind !== a.kind && a.state === AssessmentState.PUBLISHED) {
        throw new FailedPreconditionError("a published assessment cannot change kind", "KIND_LOCKED");
      }
      const merged: AssessmentFields = { ...a, ...changes };
      validate(merged);
      assertNoViolations(fieldViolations(merged, "assessment"));
      return store.update(
        assessmentId,
        changes,
        activityOf(
          access,
          Permission.CONTENT,
          "assessment.update",
          "assessment",
          assessmentId,
          changedFields(changes),
        ),
        // Students of a running course hear when published work changes terms they rely on.
        access.course.state === CourseState.ACTIVE
          ? (change) => termsNotice(a.courseId, access.course.title, a.id, change)
          : undefined,
        refusedOnceWorkExists,
      );
    },

    async remove(assessmentId: string, caller: string): Promise<void> {
      const { a, access } = await load(assessmentId, caller);
      requirePermission(access, Permission.CONTENT);
      const files = await store.remove(
        assessmentId,
        activityOf(access, Permission.CONTENT, "assessment.delete", "assessment", assessmentId, a.title),
        // Students who could see it hear that it, and what they handed in for it, is gone.
        ({ title }) => ({
          type: "ASSESSMENT_DELETED",
          recipients: { courseId: a.courseId },
          data: {
            course_id: a.courseId,
            course_title: access.course.title,
            assessment_id: a.id,
            assessment_title: title,
          },
        }),
      );
      // The rows are gone; a file left behind by a failed delete is only garbage.
      await Promise.allSettled(files.map((key) => deps.blobs.delete(key)));
    },

    async publish(assessmentId: string, caller: string): Promise<AssessmentRecord> {
      const { a, access } = await load(assessmentId, caller);
      requirePermission(access, Permission.CONTENT);
      // Work that refuses late hand-ins and is already past due (grace included) could not be
      // handed in by anyone: publishing it would only notify students of a closed assessment.
      if (a.state !== AssessmentState.PUBLISHED && closedToHandIns(a, deps.now())) {
        throw new FailedPreconditionError(
          "the due time has passed and late work is refused, so no one could hand this in: move the due time or accept late work first",
          "PAST_DUE",
        );
      }
      const published = await store.publish(
        assessmentId,
        (row) => ({
          type: "ASSESSMENT_PUBLISHED",
          recipients: { courseId: a.courseId },
          data: {
            course_id: a.courseId,
            course_title: access.course.title,
            assessment_id: a.id,
            assessment_title: row.title,
            due_time: row.dueTime.toISOString(),
          },
        }),
        activityOf(access, Permission.CONTENT, "assessment.publish", "assessment", assessmentId, a.title),
      );
      if (!published)
        throw new FailedPreconditionError("the assessment is already published", "ALREADY_PUBLISHED");
      return (await store.get(assessmentId))!;
    },

    /** Starts an exam attempt; the time limit runs from now, on the server's clock. */
    async start(
      assessmentId: string,
      caller: string,
    ): Promise<{ a: AssessmentRecord; s: SubmissionRecord; deadline: Date }> {
      const { a, access } = await load(assessmentId, caller);
      if (access.role !== "student") {
        throw new PermissionDeniedError("only enrolled students take exams", "NOT_ENROLLED");
      }
      if (!canSee(a, access)) throw new NotFoundError("assessment");
      if (a.kind !== AssessmentKind.EXAM)
        throw new FailedPreconditionError("only exams are started", "NOT_AN_EXAM");
      requireRunning(access);
      const now = deps.now();
      if (closedToHandIns(a, now)) {
        throw new FailedPreconditionError("the exam is past its due time", "PAST_DUE");
      }
      const existing = await store.submissionOf(a.id, caller);
      if (existing && existing.state !== SubmissionState.IN_PROGRESS) {
        throw new FailedPreconditionError("you have already handed in this exam", "ALREADY_SUBMITTED");
      }
      const s =
        existing ??
        (await store.createSubmission(a, caller, {
          ...attemptUnderWay(),
          startedAt: now,
        }));
      return {
        a,
        s: await readable(studentView(s)),
        deadline: attemptEnds(a, s.startedAt!),
      };
    },

    /** Hands in answers: validated, time-stamped by the server, late policy applied, auto-graded. */
    async submit(assessmentId: string, caller: string, answers: Answer[]): Promise<SubmissionRecord> {
      const { a, access } = await load(assessmentId, caller);
      if (access.role !== "student")
        throw new PermissionDeniedError("only enrolled students hand in work", "NOT_ENROLLED");
      if (!canSee(a, access)) throw new NotFoundError("assessment");
      requireRunning(access);
      assertNoViolations(answerViolations(a.questions, answers));
      const now = deps.now();
      const existing = await store.submissionOf(a.id, caller);
      if (a.kind === AssessmentKind.EXAM && !existing) {
        throw new FailedPreconditionError("start the exam before handing it in", "NOT_STARTED");
      }
      if (existing && existing.state === SubmissionState.SUBMITTED && a.kind === AssessmentKind.EXAM) {
        throw new FailedPreconditionError("an exam can be handed in once", "ALREADY_SUBMITTED");
      }
      if (
        existing &&
        (existing.state === SubmissionState.GRADED || existing.state === SubmissionState.FINALIZED)
      ) {
        throw new FailedPreconditionError(
          "this work has been graded and can no longer change",
          "ALREADY_GRADED",
        );
      }
      const { pastDue, overTime } = lateness(a, now, existing?.startedAt);
      const late = pastDue || overTime;
      if (late && a.latePolicy === LatePolicy.REJECT) {
        throw new FailedPreconditionError(
          overTime ? "the exam's time limit has passed" : "the due time has passed",
          overTime ? "TIME_LIMIT_EXCEEDED" : "PAST_DUE",
        );
      }
      const stored = await storeFiles(a.courseId, answers);
      const update = handedIn(a, stored, now, late);
      // A task is handed in again while ungraded; an exam once, from its attempt.
      const from =
        a.kind === AssessmentKind.EXAM
          ? [SubmissionState.IN_PROGRESS]
          : [SubmissionState.IN_PROGRESS, SubmissionState.SUBMITTED];
      const written = await savingFiles(stored, () =>
        store.saveAnswers(a, caller, from, update, a.kind === AssessmentKind.TASK),
      );
      if (!written) {
        if (a.kind === AssessmentKind.EXAM) {
          throw new FailedPreconditionError("an exam can be handed in once", "ALREADY_SUBMITTED");
        }
        throw new FailedPreconditionError("the submission changed meanwhile; reload", "SUBMISSION_CHANGED");
      }
      await removeReplacedFiles(written.replaced, stored);
      return readable(studentView(written.saved));
    },

    /**
     * Keeps a started exam's answers so far, until the attempt ends (`attemptEnds`); they are handed
     * in with SubmitAssessment, or by `handInExpired` (when the exam rejects late work and its
     * time is up, or the course finishes).
     */
    async saveAnswers(
      assessmentId: string,
      caller: string,
      answers: Answer[],
    ): Promise<{ s: SubmissionRecord; deadline: Date }> {
      const { a, access } = await load(assessmentId, caller);
      if (access.role !== "student")
        throw new PermissionDeniedError("only enrolled students take exams", "NOT_ENROLLED");
      if (!canSee(a, access)) throw new NotFoundError("assessment");
      if (a.kind !== AssessmentKind.EXAM) {
        throw new FailedPreconditionError(
          "only exam answers are saved; a task is edited by handing it in again",
          "NOT_AN_EXAM",
        );
      }
      requireRunning(access);
      assertNoViolations(answerViolations(a.questions, answers));
      const existing = await store.submissionOf(a.id, caller);
      if (!existing) throw new FailedPreconditionError("start the exam before saving answers", "NOT_STARTED");
      if (existing.state !== SubmissionState.IN_PROGRESS) {
        throw new FailedPreconditionError("you have already handed in this exam", "ALREADY_SUBMITTED");
      }
      const deadline = attemptEnds(a, existing.startedAt!);
      if (deps.now() > deadline) {
        throw new FailedPreconditionError("the exam's time is up", "TIME_LIMIT_EXCEEDED", {
          deadline: deadline.toISOString(),
        });
      }
      const stored = await storeFiles(a.courseId, answers);
      const written = await savingFiles(stored, () =>
        store.saveAnswers(a, caller, [SubmissionState.IN_PROGRESS], {
          ...attemptUnderWay(),
          answers: stored,
          savedAt: deps.now(),
        }),
      );
      if (!written) {
        throw new FailedPreconditionError("the submission changed meanwhile; reload", "SUBMISSION_CHANGED");
      }
      await removeReplacedFiles(written.replaced, stored);
      return { s: await readable(studentView(written.saved)), deadline };
    },

    /**
     * Hands in, with their last saved answers, the exam attempts no one can hand in any more:
     * at exams that reject late work, those whose time (or due time) is up; in a finished
     * course, all (a course reopened meanwhile keeps them open). Each is handed in as of its
     * end or the course's, if sooner, and is late only if its answers were last saved after
     * the due time (possible only where late work is taken). Returns how many.
     */
    async handInExpired(limit = 500): Promise<number> {
      const now = deps.now();
      let handed = 0;
      for (const { submission: s, courseFinishedAt } of await store.attemptsToHandIn(
        now,
        LatePolicy.REJECT,
        limit,
      )) {
        const a = (await store.get(s.assessmentId))!;
        const ends = attemptEnds(a, s.startedAt!);
        const timeUp = a.latePolicy === LatePolicy.REJECT && ends <= now;
        const at = courseFinishedAt && courseFinishedAt < ends ? courseFinishedAt : ends;
        const late = lateness(a, s.savedAt ?? s.startedAt!).pastDue;
        const done = await store.updateSubmission(
          s.id,
          { states: [SubmissionState.IN_PROGRESS], ...(timeUp ? {} : { courseFinished: true }) },
          handedIn(a, s.answers, at, late),
        );
        if (done) handed++;
      }
      return handed;
    },

    /** The student's own submission, or any for graders of the course. */
    async getSubmission(submissionId: string, caller: string): Promise<SubmissionRecord> {
      const s = await store.submission(submissionId);
      if (!s) throw new NotFoundError("submission");
      if (s.studentId === caller) return readable(studentView(s));
      const access = await deps.access.load(s.courseId, caller);
      if (access.role === "student" || access.role === "none") {
        throw new PermissionDeniedError("you can read only your own submissions", "NOT_YOUR_SUBMISSION");
      }
      requirePermission(access, Permission.GRADING);
      return readable(s);
    },

    async listSubmissions(
      assessmentId: string,
      caller: string,
      state: number | undefined,
      limit: number,
      after?: Cursor,
    ) {
      const { access } = await load(assessmentId, caller);
      requirePermission(access, Permission.GRADING);
      const rows = await store.listSubmissions(assessmentId, state, limit + 1, after);
      const page = pageOf(rows, limit, (s) => ({
        key: (s.submittedAt ?? new Date(0)).toISOString(),
        id: s.id,
      }));
      return { ...page, items: await Promise.all(page.items.map(readable)) };
    },

    listForStudent: (
      caller: string,
      filter: { courseId?: string; status?: string },
      limit: number,
      after?: Cursor,
    ) =>
      store
        .listForStudent(caller, deps.now(), filter, limit + 1, after)
        .then((rows) => pageOf(rows, limit, (r) => ({ key: r.dueTime.toISOString(), id: r.assessmentId }))),

    /**
     * Records per-question scores (the total is recomputed, never taken from the client), on
     * the version of the submission read here, and `expectedVersion` if the grader gave it.
     */
    async grade(
      submissionId: string,
      caller: string,
      given: Score[],
      feedback: string,
      expectedVersion?: number,
    ): Promise<SubmissionRecord> {
      const { s, access } = await forGrading(submissionId, caller);
      if (s.state === SubmissionState.IN_PROGRESS) {
        throw new FailedPreconditionError("the student has not handed in yet", "NOT_SUBMITTED");
      }
      if (s.state === SubmissionState.FINALIZED) {
        throw new FailedPreconditionError("the grade is final", "GRADE_FINAL");
      }
      requireVersion(s, expectedVersion);
      const a = (await store.get(s.assessmentId))!;
      const byId = new Map(a.questions.map((q) => [q.id, q]));
      const violations = given.flatMap((g, i) => {
        const q = byId.get(g.questionId);
        if (!q) return [{ field: `scores[${i}].question_id`, description: `no question "${g.questionId}"` }];
        if (g.score > q.points)
          return [{ field: `scores[${i}].score`, description: `at most ${q.points} points` }];
        return [];
      });
      if (new Set(given.map((g) => g.questionId)).size !== given.length) {
        violations.push({ field: "scores", description: "grade each question once" });
      }
      if (violations.length > 0) throw new InvalidArgumentError(violations);
      const merged = new Map(s.scores.map((x) => [x.questionId, x]));
      for (const g of given) merged.set(g.questionId, { ...g, autoGraded: false });
      const scores = a.questions.flatMap((q) => merged.get(q.id) ?? []);
      const pending = s.pendingQuestionIds.filter((id) => !given.some((g) => g.questionId === id));
      const score = scored(a, scores, pending, s.late);
      const updated = await store.updateSubmission(
        s.id,
        { states: [SubmissionState.SUBMITTED, SubmissionState.GRADED], version: s.version },
        {
          state: pending.length === 0 ? SubmissionState.GRADED : SubmissionState.SUBMITTED,
          ...score,
          feedback,
          gradedAt: deps.now(),
        },
        {
          activity: activityOf(
            access,
            Permission.GRADING,
            "submission.grade",
            "submission",
            s.id,
            pending.length === 0
              ? `${score.totalScore} of ${score.maxScore} points`
              : `${pending.length} questions still to grade`,
          ),
        },
      );
      if (!updated)
        throw new FailedPreconditionError("the submission changed meanwhile; reload", "SUBMISSION_CHANGED");
      return readable(updated);
    },

    /** Makes the grade final and tells the student; `expectedVersion` as for `grade`. */
    async finalize(
      submissionId: string,
      caller: string,
      expectedVersion?: number,
    ): Promise<SubmissionRecord> {
      const { s, access } = await forGrading(submissionId, caller);
      if (s.state === SubmissionState.FINALIZED) {
        throw new FailedPreconditionError("the grade is already final", "GRADE_FINAL");
      }
      // A grader who read an older version learns first that the student handed in again.
      requireVersion(s, expectedVersion);
      if (s.state === SubmissionState.IN_PROGRESS || s.pendingQuestionIds.length > 0) {
        throw new FailedPreconditionError("grade every question first", "GRADING_INCOMPLETE", {
          pending_question_ids: s.pendingQuestionIds.join(","),
        });
      }
      const a = (await store.get(s.assessmentId))!;
      const updated = await store.updateSubmission(
        s.id,
        { states: [SubmissionState.SUBMITTED, SubmissionState.GRADED], version: s.version },
        {
          state: SubmissionState.FINALIZED,
          scores: s.scores,
          totalScore: s.totalScore,
          maxScore: s.maxScore,
          gradePercent: s.gradePercent,
          passed: s.passed,
          pendingQuestionIds: [],
          finalizedAt: deps.now(),
        },
        {
          event: {
            type: "SUBMISSION_GRADED",
            recipients: { userIds: [s.studentId] },
            data: {
              course_id: s.courseId,
              assessment_id: a.id,
              assessment_title: a.title,
              grade: String(s.gradePercent ?? 0),
            },
          },
          activity: activityOf(
            access,
            Permission.GRADING,
            "submission.finalize",
            "submission",
            s.id,
            `${s.totalScore} of ${s.maxScore} points`,
          ),
        },
      );
      if (!updated)
        throw new FailedPreconditionError("the submission changed meanwhile; reload", "SUBMISSION_CHANGED");
      return readable(updated);
    },
  };
}

export type Assessments = ReturnType<typeof createAssessments>;

/** An exam attempt under way, as stored: in progress, nothing scored yet. */
function attemptUnderWay() {
  return {
    state: SubmissionState.IN_PROGRESS,
    scores: [],
    totalScore: 0,
    maxScore: 0,
    gradePercent: null,
    passed: null,
    pendingQuestionIds: [],
  };
}

/** Refuses to act on a submission that changed since the caller read it at `expected`. */
function requireVersion(s: SubmissionRecord, expected: number | undefined): void {
  if (expected !== undefined && s.version !== expected) {
    throw new FailedPreconditionError(
      "the submission changed since you read it (handed in again or graded); reload it",
      "SUBMISSION_CHANGED",
      { version: String(s.version) },
    );
  }
}
