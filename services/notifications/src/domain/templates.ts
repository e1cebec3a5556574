/** What each event says, in the inbox, in a push and in an e-mail (HTML and text). */

export interface Rendered {
  title: string;
  body: string;
  link: string;
  subject: string;
  text: string;
  html: string;
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

type Data = Record<string, string>;

/** One formatter per time zone ("" for UTC), made when first needed. */
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat("en-GB", {
        weekday: "short",
        day: "numeric",
        month: "short",
        year: "numeric",
        hour: "2-digit",
        minute: "2-digit",
        timeZone: timeZone || "UTC",
        timeZoneName: "short",
      });
    } catch {
      // A zone this runtime does not know (the users service checked it against its own): UTC.
      f = formatterFor("");
    }
    formatters.set(timeZone, f);
  }
  return f;
}

/**
 * An event's ISO time as the recipient reads it, in their time zone ("Tue, 1 Dec 2026, 15:00
 * GMT-3"; UTC when they set none); anything else as it came.
 */
const when = (value: string, timeZone: string) => {
  const t = Date.parse(value);
  return /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(t) ? formatterFor(timeZone).format(t) : value;
};
const course = (d: Data) => d["course_title"] ?? "your course";
/** The course's title where it starts a sentence. */
const Course = (d: Data) => d["course_title"] ?? "Your course";
/** A grade out of 100 to at most two decimals ("85.5", "33.33"); anything else as it came. */
const grade = (value: string) => {
  const n = Number(value);
  return value.trim() !== "" && Number.isFinite(n) ? String(Math.round(n * 100) / 100) : value;
};
const minutes = (n: string) => (n === "1" ? "1 minute" : `${n} minutes`);
const lateWork = (policy: string | undefined, penalty: string | undefined) =>
  policy === "REJECT"
    ? "refused"
    : policy === "PENALTY"
      ? `accepted with ${penalty ? `${penalty} % off` : "a penalty"}`
      : "accepted and flagged";
/**
 * A term an event names, as it is and was ("grace period 30 minutes (was 60 minutes)"); none
 * when the event does not name it. `show` writes a value, given the prefix of the key it was
 * read from ("" or "previous_"), for values written from more than one key.
 */
const term = (d: Data, key: string, label: string, show: (v: string, prefix: string) => string) => {
  const [now, was] = [d[key], d[`previous_${key}`]];
  if (now === undefined) return [];
  return [`${label} ${show(now, "")}${was === undefined ? "" : ` (was ${show(was, "previous_")})`}`];
};
/** The terms of an assessment that changed besides its due time, as they are and were. */
const otherTerms = (d: Data): string[] => [
  ...term(d, "grace_period_minutes", "grace period", minutes),
  ...term(d, "late_policy", "late work", (v, prefix) => lateWork(v, d[`${prefix}late_penalty_percent`])),
  ...term(d, "time_limit_minutes", "time limit", (v) => (v === "0" ? "none" : minutes(v))),
];
/**
 * The terms of a course that changed, as they are and were ("starts Tue, 1 Dec 2026, 18:00
 * UTC (was Sat, 28 Nov 2026, 18:00 UTC)", "now on site (was online)").
 */
const courseTerms = (d: Data, tz: string): string[] => {
  const time = (v: string) => when(v, tz);
  const modality = (m: string) => (m === "ON_SITE" ? "on site" : m === "ONLINE" ? "online" : m);
  return [
    ...term(d, "start_time", "starts", time),
    ...term(d, "end_time", "ends", time),
    ...term(d, "modality", "now", modality),
    ...term(d, "passing_grade", "passing grade", grade),
  ];
};
/** The assessment's title in quotes, or `unnamed` when the event has none. */
const work = (d: Data, unnamed: string) => (d["assessment_title"] ? `"${d["assessment_title"]}"` : unnamed);
const assessmentLink = (d: Data) =>
  d["assessment_id"] ? `classconnect://assessments/${d["assessment_id"]}` : courseLink(d);
const ruleLink = (d: Data) =>
  d["rule_id"] ? `classconnect://rules/${d["rule_id"]}` : "classconnect://rules";
const courseLink = (d: Data) =>
  d["course_id"] ? `classconnect://courses/${d["course_id"]}` : "classconnect://home";

const texts: Record<string, (d: Data, tz: string) => { title: string; body: string; link: string }> = {
  ENROLLED: (d) => ({ title: "You are enrolled", body: `Welcome to ${course(d)}.`, link: courseLink(d) }),
  ASSESSMENT_PUBLISHED: (d, tz) => ({
    title: `New in ${course(d)}`,
    body: `${work(d, "An assessment")} is published${d["due_time"] ? `, due ${when(d["due_time"], tz)}` : ""}.`,
    link: assessmentLink(d),
  }),
  DEADLINE_REMINDER: (d, tz) => ({
    title: `Due soon in ${course(d)}`,
    body: `${work(d, "Your work")} is due ${d["due_time"] ? when(d["due_time"], tz) : "soon"} and you have not handed it in.`,
    link: assessmentLink(d),
  }),
  DUE_TIME_CHANGED: (d, tz) => {
    const also = otherTerms(d);
    return {
      title: `New due time in ${course(d)}`,
      body: `${work(d, "An assessment")} is now due ${d["due_time"] ? when(d["due_time"], tz) : "at another time"}${d["previous_due_time"] ? ` (it was due ${when(d["previous_due_time"], tz)})` : ""}.${also.length > 0 ? ` Also changed: ${also.join("; ")}.` : ""}`,
      link: assessmentLink(d),
    };
  },
  ASSESSMENT_TERMS_CHANGED: (d) => {
    const terms = otherTerms(d);
    return {
      title: `New terms in ${course(d)}`,
      body: `${work(d, "An assessment")} has new terms${terms.length > 0 ? `: ${terms.join("; ")}` : ""}.`,
      link: assessmentLink(d),
    };
  },
  ASSESSMENT_DELETED: (d) => ({
    title: `Deleted in ${course(d)}`,
    body: `${work(d, "An assessment")} was deleted from ${course(d)}, with any work handed in for it.`,
    link: courseLink(d),
  }),
  SUBMISSION_GRADED: (d) => ({
    title: "Your grade is ready",
    body: `${work(d, "Your work")} was graded: ${d["grade"] ?? "?"}%.`,
    link: assessmentLink(d),
  }),
  FEEDBACK_RECEIVED: (d) => ({
    title: "New feedback",
    body: `A teacher of ${course(d)} left you feedback.`,
    link: courseLink(d),
  }),
  ASSISTANT_ADDED: (d) => ({
    title: "You are an assistant",
    body: `You now help teach ${course(d)}.`,
    link: courseLink(d),
  }),
  ASSISTANT_REMOVED: (d) => ({
    title: "Assistant role ended",
    body: `You no longer assist in ${course(d)}.`,
    link: courseLink(d),
  }),
  ASSISTANT_UPDATED: (d) => ({
    title: "Your assistant permissions changed",
    body: `In ${course(d)} you may now: ${d["permissions"] ?? "see the course"}.`,
    link: courseLink(d),
  }),
  STUDENT_REMOVED: (d) => ({
    title: "Removed from a course",
    body: `You were removed from ${course(d)}${d["reason"] ? `: ${d["reason"]}` : "."}`,
    link: "classconnect://courses",
  }),
  COURSE_DELETED: (d) => ({
    title: "Course deleted",
    body: `${d["course_title"] ?? "A course of yours"} was deleted by its teacher; it is no longer available.`,
    link: "classconnect://courses",
  }),
  COURSE_FINISHED: (d) => {
    const final = d["final_grade"];
    const passing = d["passing_grade"];
    const verdict =
      passing && Number(passing) > 0
        ? ` (passing grade ${grade(passing)}): you ${d["passed"] === "true" ? "passed" : "did not pass"}`
        : "";
    return {
      title: "Course finished",
      body:
        final === undefined
          ? `${Course(d)} has finished; no final grade was recorded for you.`
          : `${Course(d)} has finished. Your final grade is ${grade(final)} of 100${verdict}.`,
      link: courseLink(d),
    };
  },
  COURSE_REOPENED: (d) => ({
    title: "Course reopened",
    body: `${Course(d)} is running again: you can take part until its teacher finishes it once more.`,
    link: courseLink(d),
  }),
  COURSE_UPDATED: (d, tz) => {
    const terms = courseTerms(d, tz);
    return {
      title: `Changes to ${course(d)}`,
      body: `${Course(d)}${d["previous_course_title"] ? ` (until now "${d["previous_course_title"]}")` : ""} has changed${terms.length > 0 ? `: ${terms.join("; ")}` : ""}.`,
      link: courseLink(d),
    };
  },
  RULE_PUBLISHED: (d, tz) => ({
    title: "New platform rule",
    body: d["rule_title"]
      ? `"${d["rule_title"]}"${d["effective_time"] ? ` takes effect ${when(d["effective_time"], tz)}` : ""}.`
      : "A rule was published.",
    link: ruleLink(d),
  }),
  RULE_UPDATED: (d, tz) => ({
    title: "A platform rule changed",
    body: d["rule_title"]
      ? `"${d["rule_title"]}"${d["previous_rule_title"] ? ` (until now "${d["previous_rule_title"]}")` : ""} ${
          d["previous_effective_time"] && d["effective_time"]
            ? `now takes effect ${when(d["effective_time"], tz)} (instead of ${when(d["previous_effective_time"], tz)}).`
            : "was changed; read what is new."
        }`
      : "A platform rule changed.",
    link: ruleLink(d),
  }),
  RULE_WITHDRAWN: (d) => ({
    title: "Platform rule withdrawn",
    body: d["rule_title"]
      ? `"${d["rule_title"]}" was withdrawn and ${d["was_in_force"] === "true" ? "no longer applies" : "will not take effect"}.`
      : "A platform rule was withdrawn.",
    link: "classconnect://rules",
  }),
  ACCOUNT_BLOCKED: (d, tz) => ({
    title: "Account blocked",
    body: `Your account is blocked until ${d["until"] ? when(d["until"], tz) : "further notice"}${d["reason"] ? `: ${d["reason"]}` : "."}`,
    link: "classconnect://home",
  }),
  ACCOUNT_UNBLOCKED: () => ({
    title: "Account unblocked",
    body: "You can use ClassConnect again.",
    link: "classconnect://home",
  }),
  ACCOUNT_PIN: (d) => ({
    title: "Your activation PIN",
    body: `Your ClassConnect PIN is ${d["pin"] ?? ""}. It expires in 10 minutes.`,
    link: "",
  }),
  PASSWORD_RESET: (d) => ({
    title: "Reset your password",
    body: "Reset your ClassConnect password with the link below. It is valid for one hour and works once.",
    link: d["reset_link"] ?? "",
  }),
  PASSWORD_CHANGED: () => ({
    title: "Your password was changed",
    body: 'The password of your ClassConnect account was just changed, and your other sessions were signed out. If this was not you, reset your password now with "Forgot password".',
    link: "",
  }),
  EMAIL_CHANGED: (d) => ({
    title: "Your e-mail address was changed",
    body: `The e-mail address of your ClassConnect account was just changed to ${d["new_email"] ?? "another address"}; this address no longer signs in. If this was not you, write to ClassConnect support at once.`,
    link: "",
  }),
  WELCOME: () => ({
    title: "Welcome to ClassConnect",
    body: "Your account is ready: find a course and enroll.",
    link: "classconnect://home",
  }),
};

export function render(eventType: string, data: Data, firstName = "", timeZone = ""): Rendered {
  const t = (
    texts[eventType] ?? (() => ({ title: "ClassConnect", body: "You have a new notification.", link: "" }))
  )(data, timeZone);
  const greeting = firstName ? `Hello ${firstName},` : "Hello,";
  return {
    ...t,
    subject: t.title.includes("ClassConnect") ? t.title : `${t.title} — ClassConnect`,
    text: `${greeting}\n\n${t.body}\n${t.link ? `\n${t.link}\n` : ""}\n— ClassConnect`,
    html: `<!doctype html><html><body><p>${escapeHtml(greeting)}</p><p>${escapeHtml(t.body)}</p>${
      t.link ? `<p><a href="${escapeHtml(t.link)}">Open in ClassConnect</a></p>` : ""
    }<p>— ClassConnect</p></body></html>`,
  };
}
