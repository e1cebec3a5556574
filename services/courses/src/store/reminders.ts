import { enqueueEvents, inTransaction, type OutboxEvent, type Sql } from "@classconnect/platform";

/** A published assessment whose deadline reminder is due, with the students who still owe work. */
export interface DueReminder {
  assessmentId: string;
  courseId: string;
  courseTitle: string;
  title: string;
  dueTime: Date;
  /** Enrolled students who have not handed it in (an exam started but not handed in counts). */
  studentIds: string[];
}

export function createReminderStore(sql: Sql) {
  return {
    /**
     * Claims up to `limit` published assessments of live courses due in (now, now + leadMs],
     * published before that window opened and not yet reminded, and records each one's
     * events (`eventFor`) in the same transaction: a reminder is recorded once, however many
     * replicas sweep at once (rows another transaction holds are skipped). Returns how many
     * were claimed.
     */
    async claimDue(
      now: Date,
      leadMs: number,
      limit: number,
      eventFor: (r: DueReminder) => OutboxEvent[],
    ): Promise<number> {
      return inTransaction(sql, async (tx) => {
        const due = await tx<
          { id: string; course_id: string; course_title: string; title: string; due_time: Date }[]
        >`
          with due as (
            select a.id from assessments a join courses c on c.id = a.course_id
            where a.state = 2 and a.reminded_at is null
              and a.due_time > ${now} and a.due_time <= ${new Date(now.getTime() + leadMs)}
              -- Published inside the window: its publication notice already gave the due time.
              and a.published_at <= a.due_time - ${leadMs} * interval '1 millisecond'
              and c.deleted_at is null and c.state = 1
            order by a.due_time
            limit ${limit}
            for update of a skip locked
          )
          update assessments a set reminded_at = ${now}
          from due, courses c
          where a.id = due.id and c.id = a.course_id
          returning a.id, a.course_id, c.title as course_title, a.title, a.due_time`;
        if (due.length === 0) return 0;
        const owing = await tx<{ assessment_id: string; student_id: string }[]>`
          select a.id as assessment_id, e.student_id
          from assessments a join enrollments e on e.course_id = a.course_id
          where a.id = any(${due.map((d) => d.id)}::uuid[])
            and not exists (
              select 1 from submissions s
              where s.assessment_id = a.id and s.student_id = e.student_id and s.state >= 2)
          order by e.student_id`;
        const studentsOf = new Map<string, string[]>();
        for (const o of owing) {
          const list = studentsOf.get(o.assessment_id) ?? [];
          list.push(o.student_id);
          studentsOf.set(o.assessment_id, list);
        }
        await enqueueEvents(
          tx,
          due.flatMap((d) =>
            eventFor({
              assessmentId: d.id,
              courseId: d.course_id,
              courseTitle: d.course_title,
              title: d.title,
              dueTime: d.due_time,
              studentIds: studentsOf.get(d.id) ?? [],
            }),
          ),
        );
        return due.length;
      });
    },
  };
}

export type ReminderStore = ReturnType<typeof createReminderStore>;
