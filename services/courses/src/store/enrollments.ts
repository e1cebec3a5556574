import {
  AlreadyExistsError,
  type Cursor,
  enqueueEvent,
  inTransaction,
  type OutboxEvent,
  type Sql,
} from "@classconnect/platform";
import { lockRunning, passedBy } from "./courses.js";
import { type Activity, logActivity } from "./staff.js";

export interface EnrollmentRecord {
  courseId: string;
  studentId: string;
  enrolledAt: Date;
  finalGrade: number | null;
}

interface EnrollmentRow {
  course_id: string;
  student_id: string;
  enrolled_at: Date;
  final_grade: number | null;
}

const toEnrollment = (r: EnrollmentRow): EnrollmentRecord => ({
  courseId: r.course_id,
  studentId: r.student_id,
  enrolledAt: r.enrolled_at,
  finalGrade: r.final_grade,
});

export function createEnrollmentStore(sql: Sql) {
  return {
    /**
     * Takes a seat and records the enrollment and its event atomically. The
     * conditional increment locks the course row, so concurrent enrollments
     * queue there and the count never passes the capacity; so do the course's new
     * assistants (StaffStore.add), so no one becomes both at once ("teaching").
     */
    async enroll(
      courseId: string,
      studentId: string,
      event: OutboxEvent,
    ): Promise<EnrollmentRecord | "full" | "finished" | "gone" | "teaching"> {
      return inTransaction(sql, async (tx) => {
        const [seat] = await tx<{ teaching: boolean }[]>`
          update courses set enrolled_count = enrolled_count + 1
          where id = ${courseId} and enrolled_count < capacity and state = 1 and deleted_at is null
          returning owner_id = ${studentId} as teaching`;
        if (!seat) {
          // Why not, as it is now: the course may have finished or gone since the caller read it.
          const [now] = await tx<{ state: number; deleted: boolean }[]>`
            select state, deleted_at is not null as deleted from courses where id = ${courseId}`;
          return !now || now.deleted ? "gone" : now.state !== 1 ? "finished" : "full";
        }
        const [assisting] = await tx`
          select 1 from assistants where course_id = ${courseId} and user_id = ${studentId}`;
        if (seat.teaching || assisting) {
          await tx`update courses set enrolled_count = enrolled_count - 1 where id = ${courseId}`;
          return "teaching";
        }
        let row: EnrollmentRow | undefined;
        try {
          [row] = await tx<EnrollmentRow[]>`
            insert into enrollments (course_id, student_id) values (${courseId}, ${studentId})
            returning course_id, student_id, enrolled_at, final_grade::float8 as final_grade`;
        } catch (err) {
          if ((err as { code?: string }).code === "23505") {
            throw new AlreadyExistsError("you are already enrolled in this course", "ALREADY_ENROLLED");
          }
          throw err;
        }
        await enqueueEvent(tx, event);
        return toEnrollment(row!);
      });
    },

    /**
     * Frees the seat of a student; false when not enrolled. Students leave, and staff remove
     * them from, only a running course (see `lockRunning`); staff removing one (`staff`) tell
     * them why and log it.
     */
    async remove(
      courseId: string,
      studentId: string,
      staff?: { event: OutboxEvent; activity?: Activity | undefined },
    ): Promise<boolean> {
      return inTransaction(sql, async (tx) => {
        // A finished course's students keep their final grades (prerequisites of other
        // courses read them): no one leaves it, or is removed, until the owner reopens it.
        await lockRunning(tx, courseId, true);
        const [gone] = await tx`
          delete from enrollments where course_id = ${courseId} and student_id = ${studentId} returning 1`;
        if (!gone) return false;
        await tx`update courses set enrolled_count = enrolled_count - 1 where id = ${courseId}`;
        if (staff) await enqueueEvent(tx, staff.event);
        if (staff?.activity) await logActivity(tx, staff.activity);
        return true;
      });
    },

    async get(courseId: string, studentId: string): Promise<EnrollmentRecord | undefined> {
      const [row] = await sql<EnrollmentRow[]>`
        select course_id, student_id, enrolled_at, final_grade::float8 as final_grade
        from enrollments where course_id = ${courseId} and student_id = ${studentId}`;
      return row && toEnrollment(row);
    },

    async list(courseId: string, limit: number, after?: Cursor): Promise<EnrollmentRecord[]> {
      const rows = await sql<EnrollmentRow[]>`
        select course_id, student_id, enrolled_at, final_grade::float8 as final_grade
        from enrollments
        where course_id = ${courseId}
          ${after ? sql`and (enrolled_at, student_id) > (${after.key}::timestamptz, ${after.id}::uuid)` : sql``}
        order by enrolled_at, student_id limit ${limit}`;
      return rows.map(toEnrollment);
    },

    /** Student ids of a course in id order, a page at a time (for notifications). */
    async studentIds(courseId: string, limit: number, after?: string): Promise<string[]> {
      const rows = await sql<{ student_id: string }[]>`
        select student_id from enrollments
        where course_id = ${courseId} ${after ? sql`and student_id > ${after}::uuid` : sql``}
        order by student_id limit ${limit}`;
      return rows.map((r) => r.student_id);
    },

    /** The students among `studentIds` that are not enrolled in `courseId`. */
    async notEnrolled(courseId: string, studentIds: string[]): Promise<string[]> {
      if (studentIds.length === 0) return [];
      const rows = await sql<{ id: string }[]>`
        select id from unnest(${studentIds}::uuid[]) as ids(id)
        where not exists (select 1 from enrollments e where e.course_id = ${courseId} and e.student_id = ids.id)`;
      return rows.map((r) => r.id);
    },

    /**
     * Prerequisites the student has not passed (see `passedBy`). A deleted course no longer
     * counts: nobody could take it any more.
     */
    async missingPrerequisites(courseId: string, studentId: string): Promise<string[]> {
      const rows = await sql<{ id: string }[]>`
        select pc.id from course_prerequisites p join courses pc on pc.id = p.prerequisite_id
        where p.course_id = ${courseId} and pc.deleted_at is null and not ${passedBy(sql, studentId)}
        order by 1`;
      return rows.map((r) => r.id);
    },
  };
}

export type EnrollmentStore = ReturnType<typeof createEnrollmentStore>;
