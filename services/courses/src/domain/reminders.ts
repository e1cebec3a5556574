/**
 * Deadline reminders: a while before a published assessment is due, the students who have
 * not handed it in are reminded, once per due time (moving the due time allows another).
 */
import type { OutboxEvent } from "@classconnect/platform";
import type { DueReminder, ReminderStore } from "../store/reminders.js";

/** Assessments claimed per transaction; a sweep takes batches until none is due. */
const BATCH = 100;
/** Recipients per event: the notifications service takes at most 10,000 user ids in one. */
const RECIPIENTS_PER_EVENT = 5_000;

/** A reminder's events: the same notice, its recipients split to fit the notifications service. */
export function reminderEvents(r: DueReminder): OutboxEvent[] {
  const events: OutboxEvent[] = [];
  for (let i = 0; i < r.studentIds.length; i += RECIPIENTS_PER_EVENT) {
    events.push({
      type: "DEADLINE_REMINDER",
      recipients: { userIds: r.studentIds.slice(i, i + RECIPIENTS_PER_EVENT) },
      data: {
        course_id: r.courseId,
        course_title: r.courseTitle,
        assessment_id: r.assessmentId,
        assessment_title: r.title,
        due_time: r.dueTime.toISOString(),
      },
    });
  }
  return events;
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
