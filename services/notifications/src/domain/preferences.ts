import type { StoredPreferences } from "../store/store.js";

/** Event types a user can tune (system e-mails always go out). */
export const USER_EVENT_TYPES = [
  "ENROLLED",
  "ASSESSMENT_PUBLISHED",
  "DEADLINE_REMINDER",
  "DUE_TIME_CHANGED",
  "ASSESSMENT_TERMS_CHANGED",
  "ASSESSMENT_DELETED",
  "SUBMISSION_GRADED",
  "FEEDBACK_RECEIVED",
  "ASSISTANT_ADDED",
  "ASSISTANT_REMOVED",
  "ASSISTANT_UPDATED",
  "STUDENT_REMOVED",
  "COURSE_DELETED",
  "COURSE_FINISHED",
  "COURSE_REOPENED",
  "COURSE_UPDATED",
  "RULE_PUBLISHED",
  "RULE_UPDATED",
  "RULE_WITHDRAWN",
] as const;

/**
 * Notices about the account itself. They are not for the user to tune: they
 * go by e-mail and to the inbox whatever the preferences say (a blocked user
 * cannot open the inbox, and one who never opted in would otherwise not learn
 * of the block at all); push follows the global switch.
 */
export const ACCOUNT_NOTICES: readonly string[] = ["ACCOUNT_BLOCKED", "ACCOUNT_UNBLOCKED"];

/** Without stored preferences: push and e-mail follow the opt-in given at registration; the inbox is always on. */
export function defaultPreferences(optIn: boolean): StoredPreferences {
  return {
    pushEnabled: optIn,
    emailEnabled: optIn,
    events: USER_EVENT_TYPES.map((eventType) => ({ eventType, push: true, email: true, inApp: true })),
  };
}

/**
 * The user's choice for one event type: as stored, or every channel on when none is stored
 * (a type newer than the stored preferences).
 */
export function eventChoice(
  prefs: StoredPreferences,
  eventType: string,
): StoredPreferences["events"][number] {
  return (
    prefs.events.find((e) => e.eventType === eventType) ?? { eventType, push: true, email: true, inApp: true }
  );
}

export function channelsFor(prefs: StoredPreferences, eventType: string) {
  if (ACCOUNT_NOTICES.includes(eventType)) return { push: prefs.pushEnabled, email: true, inApp: true };
  const e = eventChoice(prefs, eventType);
  return { push: prefs.pushEnabled && e.push, email: prefs.emailEnabled && e.email, inApp: e.inApp };
}
