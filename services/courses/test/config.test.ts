/** The courses service's settings: deadline reminders. */
import { ConfigError } from "@classconnect/platform";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readCoursesConfig } from "../src/config.js";

const test = suite("courses: configuration");
const base = { COURSES_DATABASE_URL: "postgres://localhost/c", SERVICE_TOKEN: "t" };

test("deadline reminders a day ahead, looked for every minute, unless set", () => {
  assert.equal(readCoursesConfig(base).reminders, { leadMs: 24 * 3_600_000, pollMs: 60_000 });
  assert.equal(
    readCoursesConfig({ ...base, DEADLINE_REMINDER_HOURS: "48", DEADLINE_REMINDER_POLL_SECONDS: "300" })
      .reminders,
    { leadMs: 48 * 3_600_000, pollMs: 300_000 },
  );
});

test("out-of-range reminder settings are refused by name", () => {
  for (const [name, value] of [
    ["DEADLINE_REMINDER_HOURS", "0"],
    ["DEADLINE_REMINDER_HOURS", "721"],
    ["DEADLINE_REMINDER_POLL_SECONDS", "0"],
    ["DEADLINE_REMINDER_POLL_SECONDS", "soon"],
  ] as const) {
    try {
      readCoursesConfig({ ...base, [name]: value });
      assert.unreachable(`${name}=${value} should be refused`);
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.match((err as ConfigError).problems.join("\n"), name);
    }
  }
});

test.run();
