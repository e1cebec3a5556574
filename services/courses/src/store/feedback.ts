import { randomUUID } from "node:crypto";
import {
  AlreadyExistsError,
  type Cursor,
  enqueueEvent,
  inTransaction,
  type OutboxEvent,
  type Sql,
} from "@classconnect/platform";
import { type Activity, logActivity } from "./staff.js";

export interface CourseFeedbackRecord {
  id: string;
  courseId: string;
  studentId: string;
  rating: number;
  comment: string;
  createdAt: Date;
}

export interface StudentFeedbackRecord {
  id: string;
  courseId: string;
  studentId: string;
  authorId: string;
  score: number;
  comment: string;
  createdAt: Date;
}

interface CourseFeedbackRow {
  id: string;
  course_id: string;
  student_id: string;
  rating: number;
  comment: string;
  created_at: Date;
}

interface StudentFeedbackRow {
  id: string;
  course_id: string;
  student_id: string;
  author_id: string;
  score: number;
  comment: string;
  created_at: Date;
}

const toCourseFeedback = (r: CourseFeedbackRow): CourseFeedbackRecord => ({
  id: r.id,
  courseId: r.course_id,
  studentId: r.student_id,
  rating: r.rating,
  comment: r.comment,
  createdAt: r.created_at,
});

const toStudentFeedback = (r: StudentFeedbackRow): StudentFeedbackRecord => ({
  id: r.id,
  courseId: r.course_id,
  studentId: r.student_id,
  authorId: r.author_id,
  score: r.score,
  comment: r.comment,
  createdAt: r.created_at,
});

export function createFeedbackStore(sql: Sql) {
  return {
    async rateCourse(courseId: string, studentId: string, rating: number, comment: string) {
      try {
        const [row] = await sql<CourseFeedbackRow[]>`
          insert into course_feedback (id, course_id, student_id, rating, comment)
          values (${randomUUID()}, ${courseId}, ${studentId}, ${rating}, ${comment}) returning *`;
        return toCourseFeedback(row!);
      } catch (err) {
        if ((err as { code?: string }).code === "23505") {
          throw new AlreadyExistsError("you have already rated this course", "ALREADY_RATED");
        }
        throw err;
      }
    },

    async courseFeedback(courseId: string, rating: number | undefined, limit: number, after?: Cursor) {
      const rows = await sql<CourseFeedbackRow[]>`
        select * from course_feedback
        where course_id = ${courseId}
          ${rating ? sql`and rating = ${rating}` : sql``}
          ${after ? sql`and (created_at, id) < (${after.key}::timestamptz, ${after.id}::uuid)` : sql``}
        order by created_at desc, id desc limit ${limit}`;
      const [avg] = await sql<{ average: number | null }[]>`
        select avg(rating)::float8 as average from course_feedback where course_id = ${courseId}`;
      return { items: rows.map(toCourseFeedback), average: avg?.average ?? 0 };
    },

    async giveStudentFeedback(
      f: { courseId: string; studentId: string; authorId: string; score: number; comment: string },
      event: OutboxEvent,
      activity?: Activity,
    ): Promise<StudentFeedbackRecord> {
      return inTransaction(sql, async (tx) => {
        const id = randomUUID();
        const [row] = await tx<StudentFeedbackRow[]>`
          insert into student_feedback (id, course_id, student_id, author_id, score, comment)
          values (${id}, ${f.courseId}, ${f.studentId}, ${f.authorId}, ${f.score}, ${f.comment})
          returning id, course_id, student_id, author_id, score::float8 as score, comment, created_at`;
        await enqueueEvent(tx, event);
        if (activity) await logActivity(tx, { ...activity, resourceId: id });
        return toStudentFeedback(row!);
      });
    },

    async studentFeedback(studentId: string, courseId: string | undefined, limit: number, after?: Cursor) {
      const rows = await sql<StudentFeedbackRow[]>`
        select f.id, f.course_id, f.student_id, f.author_id, f.score::float8 as score, f.comment, f.created_at
        from student_feedback f join courses c on c.id = f.course_id and c.deleted_at is null
        where f.student_id = ${studentId}
          ${courseId ? sql`and f.course_id = ${courseId}` : sql``}
          ${after ? sql`and (f.created_at, f.id) < (${after.key}::timestamptz, ${after.id}::uuid)` : sql``}
        order by f.created_at desc, f.id desc limit ${limit}`;
      return rows.map(toStudentFeedback);
    },
  };
}

export type FeedbackStore = ReturnType<typeof createFeedbackStore>;
