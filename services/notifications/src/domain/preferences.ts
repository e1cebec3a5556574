import type { StoredPreferences } from "../store/store.js";

/** Event types a user can tune (system e-mails always go out). */
export const USER_EVENT_TYPES = [
  "ENROLLED",
  "ASSESSMENT_PUBLISHED",
  "DEADLINE_REMINDER",
  "SUBMISSION_GRADED",
  "FEEDBACK_RECEIVED",
  "ASSISTANT_ADDED",
  "ASSISTANT_REMOVED",
  "ASSISTANT_UPDATED",
  "STUDENT_REMOVED",
  "RULE_PUBLISHED",
  "ACCOUNT_BLOCKED",
  "ACCOUNT_UNBLOCKED",
] as const;

/** Without stored preferences: push and e-mail follow the opt-in given at registration; the inbox is always on. */
export function defaultPreferences(optIn: boolean): StoredPreferences {
  return {
    pushEnabled: optIn,
    emailEnabled: optIn,
    events: USER_EVENT_TYPES.map((eventType) => ({ eventType, push: true, email: true, inApp: true })),
  };
}

export function channelsFor(prefs: StoredPreferences, eventType: string) {
  const e = prefs.events.find((x) => x.eventType === eventType) ?? { push: true, email: true, inApp: true };
  return { push: prefs.pushEnabled && e.push, email: prefs.emailEnabled && e.email, inApp: e.inApp };
}
