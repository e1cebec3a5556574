/**
 * `npm run bench:fanout`: one event to 10,000 recipients through the real
 * platform (users, notifications, PostgreSQL) with the real Brevo SDK talking
 * to a loopback Brevo. Reports time to fill every inbox, time until every
 * e-mail is accepted, provider calls, and duplicates (must be 0).
 */
import { randomUUID } from "node:crypto";
import { startSystem } from "@classconnect/gateway/testing";
import { DispatchService } from "@classconnect/gen/classconnect/notifications/v1/dispatch_service_pb.js";
import { EventType } from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { createBrevoSender } from "@classconnect/notifications";
import postgres from "postgres";
import { startFakeBrevo } from "../services/notifications/test/fake-brevo.js";

const RECIPIENTS = Number(process.env["FANOUT_RECIPIENTS"] ?? 10_000);

const brevo = await startFakeBrevo();
const sys = await startSystem({
  email: createBrevoSender({
    apiKey: "bench",
    sender: { email: "bench@classconnect.test", name: "Bench" },
    baseUrl: brevo.baseUrl,
  }),
});
const users = postgres(sys.databases.users, { max: 2, onnotice: () => {} });
const notifications = postgres(sys.databases.notifications, { max: 2, onnotice: () => {} });
try {
  await users`
    insert into users (id, email, password_hash, first_name, last_name, location, notifications_opt_in, email_verified)
    select gen_random_uuid(), 'fan' || i || '@example.com', null, 'Fan', 'Number ' || i, 'X', true, true
    from generate_series(1, ${RECIPIENTS}) as i`;
  const callsBefore = brevo.calls.length;
  const eventId = randomUUID();
  const started = performance.now();
  await sys.internalClient(DispatchService, "notifications").publishEvent({
    eventId,
    eventType: EventType.RULE_PUBLISHED,
    recipients: { allUsers: true },
    data: { rule_title: "Be kind" },
  });
  let inboxMs = 0;
  let emailMs = 0;
  for (;;) {
    const [row] = await notifications<{ inbox: number; sent: number; failed: number }[]>`
      select (select count(*)::int from inbox where event_id = ${eventId}) as inbox,
             (select count(*)::int from deliveries where event_id = ${eventId} and channel = 2 and status = 1) as sent,
             (select count(*)::int from deliveries where event_id = ${eventId} and channel = 2 and status = 3) as failed`;
    if (!inboxMs && row!.inbox >= RECIPIENTS) inboxMs = performance.now() - started;
    if (row!.sent + row!.failed >= RECIPIENTS) {
      emailMs = performance.now() - started;
      break;
    }
    if (performance.now() - started > 300_000) throw new Error(`timed out: ${JSON.stringify(row)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const calls = brevo.calls
    .slice(callsBefore)
    .filter((c) => c.body.messageVersions?.some((v) => v.subject?.startsWith("New platform rule")));
  const delivered = calls.flatMap((c) => (c.body.messageVersions ?? []).map((v) => v.to[0]!.email));
  const duplicates = delivered.length - new Set(delivered).size;
  const rows: [string, string][] = [
    ["recipients", String(RECIPIENTS)],
    ["time until every inbox item (s)", (inboxMs / 1000).toFixed(2)],
    ["time until every e-mail accepted (s)", (emailMs / 1000).toFixed(2)],
    ["e-mails per second", (RECIPIENTS / (emailMs / 1000)).toFixed(0)],
    ["Brevo API calls", String(calls.length)],
    ["recipients per call", (delivered.length / Math.max(1, calls.length)).toFixed(1)],
    ["e-mails delivered", String(delivered.length)],
    ["duplicates", String(duplicates)],
  ];
  console.log("\nbench:fanout — one RULE_PUBLISHED event to every user");
  for (const [k, v] of rows) console.log(`  ${k.padEnd(38)} ${v}`);
  if (duplicates !== 0 || delivered.length !== RECIPIENTS) process.exitCode = 1;
} finally {
  await users.end();
  await notifications.end();
  await sys.close();
  await brevo.close();
}
process.exit(process.exitCode ?? 0);
