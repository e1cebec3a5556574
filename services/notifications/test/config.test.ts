/** The notifications service's settings: in production it needs its providers. */
import { ConfigError } from "@classconnect/platform";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readNotificationsConfig } from "../src/config.js";

const test = suite("notifications: configuration");
const base = { NOTIFICATIONS_DATABASE_URL: "postgres://localhost/n", SERVICE_TOKEN: "t" };

test("a local run needs no provider: e-mail goes to the mailbox, pushes to the log", () => {
  const config = readNotificationsConfig(base);
  assert.equal(
    [config.brevoApiKey, config.firebaseProjectId, config.firebaseCredentials],
    [undefined, undefined, undefined],
  );
});

test("production refuses to start without Brevo and Firebase, naming each missing setting", () => {
  try {
    readNotificationsConfig({ ...base, NODE_ENV: "production" });
    assert.unreachable("should throw");
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.equal((err as ConfigError).problems, [
      "BREVO_API_KEY is required",
      "FIREBASE_PROJECT_ID is required",
      "FIREBASE_CREDENTIALS_JSON is required",
    ]);
  }
});

test("production with its providers: the service account's key as JSON, or a file (which wins)", () => {
  const production = {
    ...base,
    NODE_ENV: "production",
    BREVO_API_KEY: "xkeysib-1",
    FIREBASE_PROJECT_ID: "classconnect",
  };
  const json = readNotificationsConfig({
    ...production,
    FIREBASE_CREDENTIALS_JSON: '{"type":"service_account"}',
  });
  assert.equal(json.firebaseCredentials, { json: '{"type":"service_account"}' });
  const file = readNotificationsConfig({
    ...production,
    FIREBASE_CREDENTIALS_JSON: "{}",
    FIREBASE_CREDENTIALS_FILE: "/var/run/secrets/firebase.json",
  });
  assert.equal(file.firebaseCredentials, { file: "/var/run/secrets/firebase.json" });
});

test("retention: forever unless set, and then between 30 and 3,650 days", () => {
  assert.is(readNotificationsConfig(base).retentionDays, undefined);
  assert.is(readNotificationsConfig({ ...base, NOTIFICATIONS_RETENTION_DAYS: "90" }).retentionDays, 90);
  for (const days of ["29", "0", "3651", "ninety"]) {
    try {
      readNotificationsConfig({ ...base, NOTIFICATIONS_RETENTION_DAYS: days });
      assert.unreachable(`${days} should be refused`);
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.match((err as ConfigError).problems.join(), "NOTIFICATIONS_RETENTION_DAYS");
    }
  }
});

test.run();
