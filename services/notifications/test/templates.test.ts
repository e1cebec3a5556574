import { EventType } from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { render } from "../src/domain/templates.js";

const test = suite("notifications: templates");

const data = {
  course_id: "5f0c4c1e-8a4e-4e8b-9d55-0c8f3a1f1b2a",
  course_title: "Compilers <b>&</b>",
  assessment_id: "9a1b2c3d-0000-4000-8000-000000000001",
  assessment_title: "Parser",
  due_time: "2026-12-01T18:00:00.000Z",
  previous_due_time: "2026-11-28T18:00:00.000Z",
  grade: "87",
  permissions: "content, grading",
  reason: "inactive since October",
  rule_title: "Be kind",
  until: "2026-12-24T09:30:00.000Z",
  effective_time: "2027-01-01T00:00:00.000Z",
  pin: "123456",
  reset_link: "classconnect://reset-password?token=abc",
  first_name: "Ada",
};

test("every event type the contract names has its own words, a link where there is one, and escaped HTML", () => {
  // ACCOUNT_DELETED is never delivered: it tells the service to erase a user.
  const undelivered: number[] = [EventType.UNSPECIFIED, EventType.ACCOUNT_DELETED];
  const types = Object.entries(EventType).flatMap(([name, n]) =>
    typeof n === "number" && !undelivered.includes(n) ? [name] : [],
  );
  assert.ok(types.length >= 15);
  const fallback = render("NOT_A_TYPE", data);
  for (const type of types) {
    const r = render(type, data, "Grace");
    assert.is.not(r.body, fallback.body, type);
    assert.is(r.subject, type === "WELCOME" ? r.title : `${r.title} — ClassConnect`, type);
    assert.match(r.text, /^Hello Grace,\n\n/, type);
    assert.not.match(r.body, "Hello", `${type}: the greeting is written once, above the body`);
    assert.not.match(r.subject, "ClassConnect — ClassConnect", type);
    assert.ok(r.text.includes(r.body), type);
    assert.not.match(r.html, "<b>", `${type}: a title is text, not markup`);
    if (r.body.includes(data.course_title)) assert.match(r.html, "Compilers &lt;b&gt;&amp;&lt;/b&gt;", type);
  }
  // Course events name the course and open it (or the work in it).
  for (const type of [
    "ENROLLED",
    "FEEDBACK_RECEIVED",
    "ASSISTANT_ADDED",
    "ASSISTANT_REMOVED",
    "ASSISTANT_UPDATED",
    "ASSESSMENT_DELETED",
    "COURSE_FINISHED",
    "COURSE_REOPENED",
    "COURSE_UPDATED",
  ]) {
    const r = render(type, data);
    assert.ok(r.body.includes(data.course_title), type);
    assert.is(r.link, `classconnect://courses/${data.course_id}`, type);
  }
  for (const type of [
    "ASSESSMENT_PUBLISHED",
    "DEADLINE_REMINDER",
    "DUE_TIME_CHANGED",
    "ASSESSMENT_TERMS_CHANGED",
    "SUBMISSION_GRADED",
  ]) {
    assert.is(render(type, data).link, `classconnect://assessments/${data.assessment_id}`, type);
  }
  // Times are written as people read them.
  assert.is(
    render("DEADLINE_REMINDER", data).body,
    '"Parser" is due Tue, 1 Dec 2026, 18:00 UTC and you have not handed it in.',
  );
  assert.is(
    render("ASSESSMENT_PUBLISHED", data).body,
    '"Parser" is published, due Tue, 1 Dec 2026, 18:00 UTC.',
  );
  assert.is(
    render("DUE_TIME_CHANGED", data).body,
    '"Parser" is now due Tue, 1 Dec 2026, 18:00 UTC (it was due Sat, 28 Nov 2026, 18:00 UTC).',
  );
  assert.is(render("RULE_PUBLISHED", data).body, '"Be kind" takes effect Fri, 1 Jan 2027, 00:00 UTC.');
  // Other terms of an assessment, alone or with a new due time, as they are and were.
  const terms = {
    grace_period_minutes: "1",
    previous_grace_period_minutes: "0",
    late_policy: "PENALTY",
    late_penalty_percent: "10",
    previous_late_policy: "REJECT",
    previous_late_penalty_percent: "0",
    time_limit_minutes: "0",
    previous_time_limit_minutes: "45",
  };
  const { due_time, previous_due_time, ...noMove } = data;
  assert.is(
    render("ASSESSMENT_TERMS_CHANGED", { ...noMove, ...terms }).body,
    '"Parser" has new terms: grace period 1 minute (was 0 minutes); late work accepted with 10 % off ' +
      "(was refused); time limit none (was 45 minutes).",
  );
  assert.is(
    render("DUE_TIME_CHANGED", { ...data, late_policy: "ACCEPT_FLAGGED", previous_late_policy: "REJECT" })
      .body,
    '"Parser" is now due Tue, 1 Dec 2026, 18:00 UTC (it was due Sat, 28 Nov 2026, 18:00 UTC). ' +
      "Also changed: late work accepted and flagged (was refused).",
  );
  assert.is(
    render("RULE_UPDATED", { ...data, previous_effective_time: "2026-12-15T00:00:00.000Z" }).body,
    '"Be kind" now takes effect Fri, 1 Jan 2027, 00:00 UTC (instead of Tue, 15 Dec 2026, 00:00 UTC).',
  );
  assert.is(render("RULE_UPDATED", data).body, '"Be kind" was changed; read what is new.');
  assert.is(
    render("RULE_UPDATED", { ...data, previous_rule_title: "Be nice" }).body,
    '"Be kind" (until now "Be nice") was changed; read what is new.',
  );
  assert.is(render("RULE_WITHDRAWN", data).body, '"Be kind" was withdrawn and will not take effect.');
  assert.is(
    render("RULE_WITHDRAWN", { ...data, was_in_force: "true" }).body,
    '"Be kind" was withdrawn and no longer applies.',
  );
  // Rule notices open the rule they name.
  const ruleId = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
  for (const type of ["RULE_PUBLISHED", "RULE_UPDATED"]) {
    assert.is(render(type, { ...data, rule_id: ruleId }).link, `classconnect://rules/${ruleId}`, type);
  }
  assert.is(
    render("ACCOUNT_BLOCKED", data).body,
    "Your account is blocked until Thu, 24 Dec 2026, 09:30 UTC: inactive since October",
  );
  // A finished course: the final grade, and against the passing grade when there is one.
  const finished = { ...data, final_grade: "85.5", passing_grade: "60", passed: "true" };
  const courseEnds: [string, Record<string, string>, string][] = [
    [
      "COURSE_FINISHED",
      finished,
      "has finished. Your final grade is 85.5 of 100 (passing grade 60): you passed.",
    ],
    [
      "COURSE_FINISHED",
      { ...finished, final_grade: "33.3333333", passed: "false" },
      "has finished. Your final grade is 33.33 of 100 (passing grade 60): you did not pass.",
    ],
    [
      "COURSE_FINISHED",
      { ...finished, passing_grade: "0" },
      "has finished. Your final grade is 85.5 of 100.",
    ],
    ["COURSE_FINISHED", data, "has finished; no final grade was recorded for you."],
    ["COURSE_REOPENED", data, "is running again: you can take part until its teacher finishes it once more."],
  ];
  for (const [type, d, body] of courseEnds)
    assert.is(render(type, d).body, `Compilers <b>&</b> ${body}`, type);
  // A course's changed terms, each as it is and was, in the recipient's time zone.
  assert.is(
    render(
      "COURSE_UPDATED",
      {
        ...data,
        previous_course_title: "Compilers I",
        start_time: "2026-12-01T18:00:00.000Z",
        previous_start_time: "2026-11-28T18:00:00.000Z",
        end_time: "2027-03-01T18:00:00.000Z",
        previous_end_time: "2027-02-01T18:00:00.000Z",
        modality: "ON_SITE",
        previous_modality: "ONLINE",
        passing_grade: "70",
        previous_passing_grade: "62.5",
      },
      "",
      "America/Argentina/Buenos_Aires",
    ).body,
    'Compilers <b>&</b> (until now "Compilers I") has changed: starts Tue, 1 Dec 2026, 15:00 GMT-3 ' +
      "(was Sat, 28 Nov 2026, 15:00 GMT-3); ends Mon, 1 Mar 2027, 15:00 GMT-3 (was Mon, 1 Feb 2027, " +
      "15:00 GMT-3); now on site (was online); passing grade 70 (was 62.5).",
  );
  assert.is(
    render("COURSE_UPDATED", { ...data, modality: "ONLINE", previous_modality: "ON_SITE" }).body,
    "Compilers <b>&</b> has changed: now online (was on site).",
  );
  assert.match(render("SUBMISSION_GRADED", data).body, "87%");
  assert.match(render("ACCOUNT_PIN", data).body, "123456");
  const reset = render("PASSWORD_RESET", data);
  assert.is(reset.link, data.reset_link);
  assert.match(reset.html, `<a href="${data.reset_link}">`);
  // The link once in the text e-mail, on its own line (it was also written into the sentence).
  assert.is(reset.text.split(data.reset_link).length - 1, 1);
  assert.match(reset.text, `\n${data.reset_link}\n`);
});

test("times in the recipient's time zone, UTC when they set none or one unknown here", () => {
  const due = (tz?: string) => render("DEADLINE_REMINDER", data, "Ada", tz).body;
  assert.is(due(), '"Parser" is due Tue, 1 Dec 2026, 18:00 UTC and you have not handed it in.');
  assert.match(due("Europe/Madrid"), "is due Tue, 1 Dec 2026, 19:00 CET and");
  assert.match(due("America/Argentina/Buenos_Aires"), "is due Tue, 1 Dec 2026, 15:00 GMT-3 and");
  assert.match(due("Asia/Tokyo"), "is due Wed, 2 Dec 2026, 03:00 GMT+9 and", "the next day there");
  assert.is(due("Mars/Olympus_Mons"), due());
  assert.match(
    render("ACCOUNT_BLOCKED", data, "", "Europe/Madrid").body,
    "until Thu, 24 Dec 2026, 10:30 CET",
  );
});

test("missing details read naturally", () => {
  assert.is(
    render("STUDENT_REMOVED", data).body,
    "You were removed from Compilers <b>&</b>: inactive since October",
  );
  assert.is(render("STUDENT_REMOVED", {}).body, "You were removed from your course.");
  assert.is(render("ASSESSMENT_PUBLISHED", {}).link, "classconnect://home");
  assert.is(render("ACCOUNT_BLOCKED", {}).body, "Your account is blocked until further notice.");
  assert.is(render("RULE_PUBLISHED", {}).body, "A rule was published.");
  assert.is(render("RULE_UPDATED", {}).body, "A platform rule changed.");
  assert.is(render("ASSESSMENT_TERMS_CHANGED", {}).body, "An assessment has new terms.");
  assert.is(
    render("ASSESSMENT_TERMS_CHANGED", { late_policy: "PENALTY" }).body,
    "An assessment has new terms: late work accepted with a penalty.",
  );
  assert.is(render("RULE_WITHDRAWN", {}).body, "A platform rule was withdrawn.");
  assert.is(render("COURSE_UPDATED", {}).body, "Your course has changed.");
  assert.is(
    render("COURSE_FINISHED", {}).body,
    "Your course has finished; no final grade was recorded for you.",
  );
  assert.is(render("COURSE_REOPENED", { course_id: "c" }).link, "classconnect://courses/c");
  assert.is(render("RULE_PUBLISHED", {}).link, "classconnect://rules");
  assert.is(
    render("DEADLINE_REMINDER", { due_time: "tomorrow" }).body,
    "Your work is due tomorrow and you have not handed it in.",
  );
  const plain = render("ACCOUNT_UNBLOCKED", {});
  assert.match(plain.text, /^Hello,\n\n/);
  assert.is(render("NOT_A_TYPE", {}).body, "You have a new notification.");
});

test.run();
