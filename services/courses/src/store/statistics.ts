import type { Sql } from "@classconnect/platform";

/** Aggregates computed in PostgreSQL; nothing here loads submissions into Node. */
export function createStatisticsStore(sql: Sql) {
  /** A submission counts for grades once handed in with nothing left to grade by hand. */
  const graded = sql`s.state in (2, 3, 4) and cardinality(s.pending_question_ids) = 0`;
  /** What a student is shown of their own grades: only final ones (state 4). */
  const final = sql`s.state = 4`;
  /** A course's figures are its current students': a student who left takes their work out of them. */
  const byStudent = sql`exists (select 1 from enrollments e where e.course_id = s.course_id and e.student_id = s.student_id)`;
  const inPeriod = (from?: Date, to?: Date) =>
    sql`${from ? sql`and s.submitted_at >= ${from}` : sql``} ${to ? sql`and s.submitted_at < ${to}` : sql``}`;

  return {
    /** The platform's courses and work (deleted courses not counted): now, and in [from, to). */
    async platform(from: Date, to: Date) {
      const within = (column: string) => sql`${sql(column)} >= ${from} and ${sql(column)} < ${to}`;
      const [row] = await sql<
        {
          courses: number;
          activeCourses: number;
          finishedCourses: number;
          coursesCreated: number;
          enrollments: number;
          enrollmentsMade: number;
          publishedAssessments: number;
          submissions: number;
          graded: number;
        }[]
      >`
        with live as (select id, state, created_at from courses where deleted_at is null)
        select
          (select count(*)::int from live) as courses,
          (select count(*)::int from live where state = 1) as "activeCourses",
          (select count(*)::int from live where state = 2) as "finishedCourses",
          (select count(*)::int from live where ${within("created_at")}) as "coursesCreated",
          (select count(*)::int from enrollments e join live c on c.id = e.course_id) as enrollments,
          (select count(*)::int from enrollments e join live c on c.id = e.course_id
            where ${within("e.enrolled_at")}) as "enrollmentsMade",
          (select count(*)::int from assessments a join live c on c.id = a.course_id where a.state = 2)
            as "publishedAssessments",
          (select count(*)::int from submissions s join live c on c.id = s.course_id
            where ${within("s.submitted_at")}) as submissions,
          (select count(*)::int from submissions s join live c on c.id = s.course_id
            where ${within("s.graded_at")}) as graded`;
      return row!;
    },

    async course(courseId: string, from?: Date, to?: Date) {
      const [head] = await sql<
        { students: number; published: number; average: number | null; handed_in: number }[]
      >`
        select
          (select count(*)::int from enrollments where course_id = ${courseId}) as students,
          (select count(*)::int from assessments where course_id = ${courseId} and state = 2) as published,
          (select avg(s.grade_percent)::float8 from submissions s join assessments a on a.id = s.assessment_id
            where s.course_id = ${courseId} and a.state = 2 and ${graded} and ${byStudent} ${inPeriod(from, to)})
            as average,
          (select count(*)::int from submissions s join assessments a on a.id = s.assessment_id
            where s.course_id = ${courseId} and a.state = 2 and s.state <> 1 and ${byStudent} ${inPeriod(from, to)})
            as handed_in`;
      const perAssessment = await sql<
        { id: string; title: string; average: number | null; handed_in: number }[]
      >`
        select a.id, a.title,
               avg(s.grade_percent) filter (where ${graded})::float8 as average,
               count(s.id) filter (where s.state <> 1)::int as handed_in
        from assessments a
        left join submissions s on s.assessment_id = a.id and ${byStudent} ${inPeriod(from, to)}
        where a.course_id = ${courseId} and a.state = 2
        group by a.id, a.title, a.due_time
        order by a.due_time, a.id`;
      const trend = await sql<{ week: Date; average: number | null; handed_in: number }[]>`
        select date_trunc('week', s.submitted_at at time zone 'UTC') at time zone 'UTC' as week,
               avg(s.grade_percent) filter (where ${graded})::float8 as average,
               count(*)::int as handed_in
        from submissions s join assessments a on a.id = s.assessment_id
        where s.course_id = ${courseId} and a.state = 2 and s.state <> 1 and ${byStudent} ${inPeriod(from, to)}
        group by 1 order by 1`;
      return { head: head!, perAssessment, trend };
    },

    /** `finalOnly`: grades count only once final (the student's own view). */
    async student(courseId: string, studentId: string, finalOnly: boolean) {
      const counted = finalOnly ? final : graded;
      const [row] = await sql<
        { published: number; handed_in: number; late: number; graded: number; average: number | null }[]
      >`
        select
          (select count(*)::int from assessments where course_id = ${courseId} and state = 2) as published,
          count(s.id) filter (where s.state <> 1)::int as handed_in,
          count(s.id) filter (where s.late)::int as late,
          count(s.id) filter (where ${counted})::int as graded,
          avg(s.grade_percent) filter (where ${counted})::float8 as average
        from submissions s join assessments a on a.id = s.assessment_id and a.state = 2
        where s.course_id = ${courseId} and s.student_id = ${studentId}`;
      return row!;
    },

    /** Per-student figures for the CSV export, a page of students at a time (keyset on student id). */
    async perStudent(courseId: string, afterStudent: string | undefined, limit: number) {
      return sql<
        {
          student_id: string;
          handed_in: number;
          late: number;
          average: number | null;
          final_grade: number | null;
        }[]
      >`
        select e.student_id,
               count(s.id) filter (where s.state <> 1)::int as handed_in,
               count(s.id) filter (where s.late)::int as late,
               avg(s.grade_percent) filter (where ${graded})::float8 as average,
               e.final_grade::float8 as final_grade
        from enrollments e
        left join submissions s on s.course_id = e.course_id and s.student_id = e.student_id
          and exists (select 1 from assessments a where a.id = s.assessment_id and a.state = 2)
        where e.course_id = ${courseId} ${afterStudent ? sql`and e.student_id > ${afterStudent}` : sql``}
        group by e.student_id, e.final_grade
        order by e.student_id
        limit ${limit}`;
    },
  };
}

export type StatisticsStore = ReturnType<typeof createStatisticsStore>;
