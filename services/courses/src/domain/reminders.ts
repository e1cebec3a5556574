/**
 * Deadline reminders: a while before a published assessment is due, the students who have
 * not handed it in are reminded, once per due time (moving the due time allows another).
 */
import type { OutboxEvent } from "@classconnect/platform";
import type { DueReminder, ReminderStore } from "../store/reminders.js";

/** Assessments claimed per transaction; a sweep takes batches until none is due. */
const BATCH = 100;
/**
 * A reminder's event: one notice to the students who owe the work (the outbox splits a class
 * too large for one event); none when no one does.
 */
export function reminderEvents(r: DueReminder): OutboxEvent[] {
  if (r.studentIds.length === 0) return [];
  return [
    {
      type: "DEADLINE_REMINDER",
      recipients: { userIds: r.studentIds },
      data: {
        course_id: r.courseId,
        course_title: r.courseTitle,
        assessment_id: r.assessmentId,
        assessment_title: r.title,
        due_time: r.dueTime.toISOString(),
      },
    },
  ];
}

export function createReminders(deps: { store: ReminderStore; now: () => Date; leadMs: number }) {
  return {
    /** Records the reminders now due; returns for how many assessments. */
    async sweep(): Promise<number> {
      let total = 0;
      for (;;) {
        const claimed = await deps.store.claimDue(deps.now(), deps.leadMs, BATCH, reminderEvents);
        total += claimed;
        if (claimed < BATCH) return total;
      }
    },
  };
}

export type Reminders = ReturnType<typeof createReminders>;
