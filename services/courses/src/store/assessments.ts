import { randomUUID } from "node:crypto";
import {
  type Cursor,
  enqueueEvent,
  FailedPreconditionError,
  inTransaction,
  NotFoundError,
  type OutboxEvent,
  type Sql,
  type TransactionSql,
} from "@classconnect/platform";
import type { Answer, Question, Score } from "../domain/grading.js";
import { lockRunning } from "./courses.js";
import { type Activity, logActivity } from "./staff.js";

export interface AssessmentFields {
  kind: number;
  title: string;
  description: string;
  instructions: string;
  dueTime: Date;
  gracePeriodMinutes: number;
  latePolicy: number;
  latePenaltyPercent: number;
  timeLimitMinutes: number;
  questions: Question[];
  passingScore: number;
}

export interface AssessmentRecord extends AssessmentFields {
  id: string;
  courseId: string;
  state: number;
  submissionCount: number;
  createdAt: Date;
  updatedAt: Date;
}

/** What a published assessment's students rely on: when it is due and how late work and time count. */
export interface DeadlineTerms {
  dueTime: Date;
  gracePeriodMinutes: number;
  latePolicy: number;
  latePenaltyPercent: number;
  timeLimitMinutes: number;
}

/** A published assessment's terms as an update found and left them, with its title after. */
export interface TermsChange {
  title: string;
  before: DeadlineTerms;
  after: DeadlineTerms;
}

const TERM_FIELDS = [
  "dueTime",
  "gracePeriodMinutes",
  "latePolicy",
  "latePenaltyPercent",
  "timeLimitMinutes",
] as const;

interface TermsRow {
  state: number;
  title: string;
  due_time: Date;
  grace_period_minutes: number;
  late_policy: number;
  late_penalty_percent: number;
  time_limit_minutes: number;
}

const termsOf = (r: TermsRow): DeadlineTerms => ({
  dueTime: r.due_time,
  gracePeriodMinutes: r.grace_period_minutes,
  latePolicy: r.late_policy,
  latePenaltyPercent: r.late_penalty_percent,
  timeLimitMinutes: r.time_limit_minutes,
});

export interface SubmissionRecord {
  id: string;
  assessmentId: string;
  courseId: string;
  studentId: string;
  state: number;
  answers: Answer[];
  startedAt: Date | null;
  submittedAt: Date | null;
  late: boolean;
  scores: Score[];
  totalScore: number;
  maxScore: number;
  gradePercent: number | null;
  passed: boolean | null;
  feedback: string;
  pendingQuestionIds: string[];
  /** Increases with every change; the guard against acting on answers or grades not seen. */
  version: number;
  /** When an exam attempt's answers were last saved (SaveAnswers); null if never. */
  savedAt: Date | null;
}

interface AssessmentRow {
  id: string;
  course_id: string;
  kind: number;
  title: string;
  description: string;
  instructions: string;
  due_time: Date;
  grace_period_minutes: number;
  late_policy: number;
  late_penalty_percent: number;
  time_limit_minutes: number;
  questions: Question[];
  passing_score: number;
  state: number;
  submission_count: string;
  created_at: Date;
  updated_at: Date;
}

const toAssessment = (r: AssessmentRow): AssessmentRecord => ({
  id: r.id,
  courseId: r.course_id,
  kind: r.kind,
  title: r.title,
  description: r.description,
  instructions: r.instructions,
  dueTime: r.due_time,
  gracePeriodMinutes: r.grace_period_minutes,
  latePolicy: r.late_policy,
  latePenaltyPercent: r.late_penalty_percent,
  timeLimitMinutes: r.time_limit_minutes,
  questions: r.questions,
  passingScore: r.passing_score,
  state: r.state,
  submissionCount: Number(r.submission_count),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

interface SubmissionRow {
  id: string;
  assessment_id: string;
  course_id: string;
  student_id: string;
  state: number;
  answers: Answer[];
  started_at: Date | null;
  submitted_at: Date | null;
  late: boolean;
  scores: Score[];
  total_score: number;
  max_score: number;
  grade_percent: number | null;
  passed: boolean | null;
  feedback: string;
  pending_question_ids: string[];
  version: number;
  saved_at: Date | null;
}

const toSubmission = (r: SubmissionRow): SubmissionRecord => ({
  id: r.id,
  assessmentId: r.assessment_id,
  courseId: r.course_id,
  studentId: r.student_id,
  state: r.state,
  answers: r.answers,
  startedAt: r.started_at,
  submittedAt: r.submitted_at,
  late: r.late,
  scores: r.scores,
  totalScore: r.total_score,
  maxScore: r.max_score,
  gradePercent: r.grade_percent,
  passed: r.passed,
  feedback: r.feedback,
  pendingQuestionIds: r.pending_question_ids,
  version: r.version,
  savedAt: r.saved_at,
});

const assessmentColumns = (sql: Sql) => sql`
  a.id, a.course_id, a.kind, a.title, a.description, a.instructions, a.due_time, a.grace_period_minutes,
  a.late_policy, a.late_penalty_percent, a.time_limit_minutes, a.questions, a.passing_score::float8 as passing_score,
  a.state, a.created_at, a.updated_at,
  (select count(*) from submissions s where s.assessment_id = a.id and s.state <> 1) as submission_count`;

const submissionColumns = (sql: Sql) => sql`
  id, assessment_id, course_id, student_id, state, answers, started_at, submitted_at, late, scores,
  total_score::float8 as total_score, max_score::float8 as max_score, grade_percent::float8 as grade_percent,
  passed, feedback, pending_question_ids, version, saved_at`;

const columnsOf: Record<keyof AssessmentFields, string> = {
  kind: "kind",
  title: "title",
  description: "description",
  instructions: "instructions",
  dueTime: "due_time",
  gracePeriodMinutes: "grace_period_minutes",
  latePolicy: "late_policy",
  latePenaltyPercent: "late_penalty_percent",
  timeLimitMinutes: "time_limit_minutes",
  questions: "questions",
  passingScore: "passing_score",
};

export interface SubmissionUpdate {
  state: number;
  answers?: Answer[];
  startedAt?: Date;
  savedAt?: Date;
  submittedAt?: Date;
  late?: boolean;
  scores: Score[];
  totalScore: number;
  maxScore: number;
  gradePercent: number | null;
  passed: boolean | null;
  feedback?: string;
  pendingQuestionIds: string[];
  gradedAt?: Date;
  finalizedAt?: Date;
}

export function createAssessmentStore(sql: Sql) {
  const columns = (values: Partial<AssessmentFields>) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(values)) {
      if (value === undefined) continue;
      out[columnsOf[key as keyof AssessmentFields]] = key === "questions" ? sql.json(value as never) : value;
    }
    return out;
  };

  async function get(id: string): Promise<AssessmentRecord | undefined> {
    const [row] = await sql<
      AssessmentRow[]
    >`select ${assessmentColumns(sql)} from assessments a where a.id = ${id}`;
    return row && toAssessment(row);
  }

  const submissionWrite = (u: SubmissionUpdate) => ({
    state: u.state,
    scores: sql.json(u.scores as never),
    total_score: u.totalScore,
    max_score: u.maxScore,
    grade_percent: u.gradePercent,
    passed: u.passed,
    pending_question_ids: u.pendingQuestionIds,
    ...(u.answers ? { answers: sql.json(u.answers as never) } : {}),
    ...(u.startedAt ? { started_at: u.startedAt } : {}),
    ...(u.savedAt ? { saved_at: u.savedAt } : {}),
    ...(u.submittedAt ? { submitted_at: u.submittedAt } : {}),
    ...(u.late !== undefined ? { late: u.late } : {}),
    ...(u.feedback !== undefined ? { feedback: u.feedback } : {}),
    ...(u.gradedAt ? { graded_at: u.gradedAt } : {}),
    ...(u.finalizedAt ? { finalized_at: u.finalizedAt } : {}),
  });

  /**
   * Holds the assessment's row until the student's write commits, and refuses the write if the
   * questions are no longer those `assessment` was read with (QUESTIONS_CHANGED: the answers were
   * checked and graded against them), or the assessment is gone. A change of questions takes
   * the row's update lock and is refused once any submission exists (see `update`), so it
   * either committed before this (and is seen here) or waits for this write and sees it.
   */
  async function holdQuestions(
    tx: TransactionSql,
    assessment: { id: string; questions: Question[] },
  ): Promise<void> {
    const [row] = await tx<{ same: boolean }[]>`
      select questions = ${tx.json(assessment.questions as never)} as same from assessments
      where id = ${assessment.id} for key share`;
    if (!row) throw new NotFoundError("assessment");
    if (!row.same) {
      throw new FailedPreconditionError(
        "the questions changed just now; read the assessment again and retry",
        "QUESTIONS_CHANGED",
      );
    }
  }

  /** Inserts the student's submission unless they have one; undefined when they do. */
  async function insertSubmission(
    tx: TransactionSql,
    assessment: { id: string; courseId: string },
    studentId: string,
    u: SubmissionUpdate,
  ): Promise<SubmissionRecord | undefined> {
    const [row] = await tx<SubmissionRow[]>`
      insert into submissions ${tx({
        id: randomUUID(),
        assessment_id: assessment.id,
        course_id: assessment.courseId,
        student_id: studentId,
        ...submissionWrite(u),
      })}
      on conflict (assessment_id, student_id) do nothing
      returning ${submissionColumns(tx)}`;
    return row && toSubmission(row);
  }

  return {
    get,

    async create(courseId: string, f: AssessmentFields, activity?: Activity): Promise<AssessmentRecord> {
      const id = randomUUID();
      await inTransaction(sql, async (tx) => {
        await tx`insert into assessments ${tx({ id, course_id: courseId, ...columns(f) })}`;
        if (activity) await logActivity(tx, { ...activity, resourceId: id });
      });
      return (await get(id))!;
    },

    /**
     * Changes an assessment. When it is published and its due time moves, `dueTimeMoved`
     * makes the students' notice from the row as it was and as it is, under its lock (so a
     * publication or another change at the same moment cannot make it name a stale time).
     */
    async update(
      id: string,
      f: Partial<AssessmentFields>,
      activity?: Activity,
      termsChanged?: (change: TermsChange) => OutboxEvent | undefined,
      refusedOnceWorkExists?: () => Error,
    ): Promise<AssessmentRecord> {
      await inTransaction(sql, async (tx) => {
        // The row as it was matters only to a notice of changed terms, read under its lock.
        const watch = termsChanged !== undefined && TERM_FIELDS.some((k) => f[k] !== undefined);
        const terms = tx`state, title, due_time, grace_period_minutes, late_policy, late_penalty_percent,
          time_limit_minutes`;
        const [before] =
          watch || refusedOnceWorkExists
            ? await tx<TermsRow[]>`select ${terms} from assessments where id = ${id} for update`
            : [];
        // Under that lock no first submission can be written meanwhile (its foreign key
        // waits for it), and any written before is seen.
        if (refusedOnceWorkExists) {
          const [work] = await tx<{ any: boolean }[]>`
            select exists (select 1 from submissions where assessment_id = ${id}) as any`;
          if (work!.any) throw refusedOnceWorkExists();
        }
        // A new due time gets its own deadline reminder.
        const reminder = f.dueTime !== undefined ? { reminded_at: null } : {};
        const [after] = await tx<TermsRow[]>`
          update assessments set ${tx({ ...columns(f), ...reminder, updated_at: new Date() })}
          where id = ${id} returning ${terms}`;
        if (watch && termsChanged && before?.state === 2 /* published */ && after) {
          const event = termsChanged({ title: after.title, before: termsOf(before), after: termsOf(after) });
          if (event) await enqueueEvent(tx, event);
        }
        if (activity) await logActivity(tx, activity);
      });
      return (await get(id))!;
    },

    /**
     * Deletes an assessment and its submissions; returns the keys of the files handed in, to
     * delete. One that was published (as deleted, under its lock) gets `publishedGone`'s notice.
     */
    async remove(
      id: string,
      activity?: Activity,
      publishedGone?: (deleted: { title: string }) => OutboxEvent,
    ): Promise<string[]> {
      return inTransaction(sql, async (tx) => {
        const files = await tx<{ key: string }[]>`
          select a->>'fileKey' as key
          from submissions s cross join lateral jsonb_array_elements(s.answers) a
          where s.assessment_id = ${id} and a->>'fileKey' is not null`;
        const [gone] = await tx<{ title: string; state: number }[]>`
          delete from assessments where id = ${id} returning title, state`;
        if (publishedGone && gone?.state === 2) await enqueueEvent(tx, publishedGone({ title: gone.title }));
        if (activity) await logActivity(tx, activity);
        return files.map((f) => f.key);
      });
    },

    /**
     * Publishes a draft and records its notice, made from the row as published (its title
     * and due time as of this moment); false when it was not a draft.
     */
    async publish(
      id: string,
      eventFor: (published: { title: string; dueTime: Date }) => OutboxEvent,
      activity?: Activity,
    ): Promise<boolean> {
      return inTransaction(sql, async (tx) => {
        const [row] = await tx<{ title: string; due_time: Date }[]>`
          update assessments set state = 2, published_at = now(), updated_at = now()
          where id = ${id} and state = 1 returning title, due_time`;
        if (!row) return false;
        await enqueueEvent(tx, eventFor({ title: row.title, dueTime: row.due_time }));
        if (activity) await logActivity(tx, activity);
        return true;
      });
    },

    /** Assessments of the courses `teacherId` owns or assists in (or of one course), by due time. */
    async listForTeacher(
      teacherId: string,
      filter: { courseId?: string; state?: number; dueAfter?: Date; dueBefore?: Date },
      limit: number,
      after?: Cursor,
    ): Promise<AssessmentRecord[]> {
      const conditions = [
        sql`c.deleted_at is null`,
        sql`(c.owner_id = ${teacherId} or exists (
          select 1 from assistants x where x.course_id = c.id and x.user_id = ${teacherId}))`,
      ];
      if (filter.courseId) conditions.push(sql`a.course_id = ${filter.courseId}`);
      if (filter.state) conditions.push(sql`a.state = ${filter.state}`);
      if (filter.dueAfter) conditions.push(sql`a.due_time >= ${filter.dueAfter}`);
      if (filter.dueBefore) conditions.push(sql`a.due_time < ${filter.dueBefore}`);
      if (after) conditions.push(sql`(a.due_time, a.id) > (${after.key}::timestamptz, ${after.id}::uuid)`);
      const where = conditions.reduce((x, y) => sql`${x} and ${y}`);
      const rows = await sql<AssessmentRow[]>`
        select ${assessmentColumns(sql)} from assessments a join courses c on c.id = a.course_id
        where ${where} order by a.due_time, a.id limit ${limit}`;
      return rows.map(toAssessment);
    },

    /** A student's published assessments with their status, by due time. */
    async listForStudent(
      studentId: string,
      now: Date,
      filter: { courseId?: string; status?: string },
      limit: number,
      after?: Cursor,
    ) {
      const status = sql`
        case when s.state = 4 then 'graded'
             when s.late or ((s.id is null or s.state = 1)
                             and ${now}::timestamptz > a.due_time + a.grace_period_minutes * interval '1 minute') then 'late'
             when s.state in (2, 3) then 'submitted'
             else 'pending' end`;
      const conditions = [sql`a.state = 2`, sql`c.deleted_at is null`];
      if (filter.courseId) conditions.push(sql`a.course_id = ${filter.courseId}`);
      if (filter.status) conditions.push(sql`${status} = ${filter.status}`);
      if (after) conditions.push(sql`(a.due_time, a.id) > (${after.key}::timestamptz, ${after.id}::uuid)`);
      const where = conditions.reduce((x, y) => sql`${x} and ${y}`);
      const rows = await sql<
        {
          id: string;
          course_id: string;
          title: string;
          due_time: Date;
          status: string;
          grade_percent: number | null;
        }[]
      >`
        select a.id, a.course_id, a.title, a.due_time, ${status} as status,
               case when s.state = 4 then s.grade_percent::float8 end as grade_percent
        from enrollments e
        join courses c on c.id = e.course_id
        join assessments a on a.course_id = e.course_id
        left join submissions s on s.assessment_id = a.id and s.student_id = ${studentId}
        where e.student_id = ${studentId} and ${where}
        order by a.due_time, a.id limit ${limit}`;
      return rows.map((r) => ({
        assessmentId: r.id,
        courseId: r.course_id,
        title: r.title,
        dueTime: r.due_time,
        status: r.status,
        gradePercent: r.grade_percent,
      }));
    },

    async submission(id: string): Promise<SubmissionRecord | undefined> {
      const [row] = await sql<
        SubmissionRow[]
      >`select ${submissionColumns(sql)} from submissions where id = ${id}`;
      return row && toSubmission(row);
    },

    async submissionOf(assessmentId: string, studentId: string): Promise<SubmissionRecord | undefined> {
      const [row] = await sql<SubmissionRow[]>`
        select ${submissionColumns(sql)} from submissions
        where assessment_id = ${assessmentId} and student_id = ${studentId}`;
      return row && toSubmission(row);
    },

    /**
     * Creates the student's exam attempt while the course runs (see `lockRunning`) and the
     * questions are those read (see `holdQuestions`); the one already there if another request
     * created it first.
     */
    async createSubmission(
      assessment: { id: string; courseId: string; questions: Question[] },
      studentId: string,
      u: SubmissionUpdate,
    ): Promise<SubmissionRecord> {
      return inTransaction(sql, async (tx) => {
        await lockRunning(tx, assessment.courseId);
        await holdQuestions(tx, assessment);
        const created = await insertSubmission(tx, assessment, studentId, u);
        if (created) return created;
        const [existing] = await tx<SubmissionRow[]>`
          select ${submissionColumns(tx)} from submissions
          where assessment_id = ${assessment.id} and student_id = ${studentId}`;
        return toSubmission(existing!);
      });
    },

    /**
     * A student's write of their answers (a hand-in, or an exam's answers so far) while the
     * course runs (see `lockRunning`) and the questions are those read (see `holdQuestions`):
     * creates the submission if `create` and there is none, else applies `u` if it is still in
     * one of `states`. Answers the saved record and the answers it replaced, read under the
     * row's lock, so that of two writes at once each learns whose files it replaced. Undefined
     * when there is none to update or it moved on.
     */
    async saveAnswers(
      assessment: { id: string; courseId: string; questions: Question[] },
      studentId: string,
      states: number[],
      u: SubmissionUpdate,
      create = false,
    ): Promise<{ saved: SubmissionRecord; replaced: Answer[] } | undefined> {
      return inTransaction(sql, async (tx) => {
        await lockRunning(tx, assessment.courseId);
        await holdQuestions(tx, assessment);
        if (create) {
          const created = await insertSubmission(tx, assessment, studentId, u);
          if (created) return { saved: created, replaced: [] };
        }
        const [before] = await tx<{ id: string; state: number; answers: Answer[] }[]>`
          select id, state, answers from submissions
          where assessment_id = ${assessment.id} and student_id = ${studentId} for update`;
        if (!before || !states.includes(before.state)) return undefined;
        const [row] = await tx<SubmissionRow[]>`
          update submissions set ${tx(submissionWrite(u))}, version = version + 1
          where id = ${before.id} returning ${submissionColumns(tx)}`;
        return { saved: toSubmission(row!), replaced: before.answers };
      });
    },

    /**
     * Updates a submission if it is still in one of `expected.states` and, when given, still
     * at `expected.version` (optimistic guard against concurrent hand-ins and grading);
     * undefined when it moved on.
     */
    async updateSubmission(
      id: string,
      /** `courseFinished`: only while the course is finished (not reopened meanwhile). */
      expected: { states: number[]; version?: number; courseFinished?: boolean },
      u: SubmissionUpdate,
      extra: { event?: OutboxEvent; activity?: Activity } = {},
    ): Promise<SubmissionRecord | undefined> {
      return inTransaction(sql, async (tx) => {
        const [row] = await tx<SubmissionRow[]>`
          update submissions set ${tx(submissionWrite(u))}, version = version + 1
          where id = ${id} and state = any(${expected.states}::smallint[])
            ${expected.version === undefined ? tx`` : tx`and version = ${expected.version}`}
            ${
              expected.courseFinished
                ? tx`and exists (select 1 from courses c where c.id = submissions.course_id and c.state = 2)`
                : tx``
            }
          returning ${submissionColumns(tx)}`;
        if (!row) return undefined;
        if (extra.event) await enqueueEvent(tx, extra.event);
        if (extra.activity) await logActivity(tx, extra.activity);
        return toSubmission(row);
      });
    },

    /**
     * Exam attempts still in progress that no one can hand in any more, oldest first, at most
     * `limit`: at exams with `rejectPolicy` whose time limit (or due time with its grace, if
     * sooner) ended by `now`, and at any exam of a finished course, with when it finished.
     */
    async attemptsToHandIn(
      now: Date,
      rejectPolicy: number,
      limit: number,
    ): Promise<{ submission: SubmissionRecord; courseFinishedAt: Date | null }[]> {
      // State 1: in progress (submissions_in_progress indexes them); kind 2: exam; course state 2: finished.
      const rows = await sql<(SubmissionRow & { course_finished_at: Date | null })[]>`
        select ${submissionColumns(sql)},
          (select c.finished_at from courses c where c.id = submissions.course_id and c.state = 2)
            as course_finished_at
        from submissions where id in (
          select s.id from submissions s
            join assessments a on a.id = s.assessment_id
            join courses c on c.id = s.course_id
          where s.state = 1 and a.kind = 2
            and (c.state = 2
              or (a.late_policy = ${rejectPolicy}
                and least(s.started_at + a.time_limit_minutes * interval '1 minute',
                          a.due_time + a.grace_period_minutes * interval '1 minute') <= ${now}))
          order by s.started_at limit ${limit})
        order by started_at`;
      return rows.map((r) => ({ submission: toSubmission(r), courseFinishedAt: r.course_finished_at }));
    },

    async listSubmissions(assessmentId: string, state: number | undefined, limit: number, after?: Cursor) {
      const rows = await sql<SubmissionRow[]>`
        select ${submissionColumns(sql)} from submissions
        where assessment_id = ${assessmentId} and state <> 1
          ${state ? sql`and state = ${state}` : sql``}
          ${after ? sql`and (submitted_at, id) > (${after.key}::timestamptz, ${after.id}::uuid)` : sql``}
        order by submitted_at, id limit ${limit}`;
      return rows.map(toSubmission);
    },
  };
}

export type AssessmentStore = ReturnType<typeof createAssessmentStore>;
