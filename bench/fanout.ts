/**
 * `npm run bench:fanout`: one event to 10,000 recipients (each with one
 * device) through the real platform (users, notifications, PostgreSQL), with
 * the real Brevo SDK talking to a loopback Brevo and the real firebase-admin
 * SDK talking to a loopback FCM. Reports time to fill every inbox, time until
 * every e-mail and every push is accepted, provider calls, and duplicates
 * (must be 0).
 */
import { randomUUID } from "node:crypto";
import { startSystem } from "@classconnect/gateway/testing";
import { DispatchService } from "@classconnect/gen/classconnect/notifications/v1/dispatch_service_pb.js";
import { EventType } from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { createBrevoSender } from "@classconnect/notifications";
import postgres from "postgres";
import { createFcmSender } from "../services/notifications/src/ports/fcm.js";
import { startFakeBrevo } from "../services/notifications/test/fake-brevo.js";
import { startFakeFcm } from "../services/notifications/test/fake-fcm.js";
import { machine } from "./load.js";

const RECIPIENTS = Number(process.env["FANOUT_RECIPIENTS"] ?? 10_000);

const brevo = await startFakeBrevo();
const fcm = await startFakeFcm();
const push = createFcmSender({
  projectId: "classconnect-bench",
  credential: fcm.credential,
  httpAgent: fcm.agent,
});
const sys = await startSystem({
  push,
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
  const ids = await users<{ id: string }[]>`select id from users where email like 'fan%@example.com'`;
  await notifications`
    insert into devices (token, user_id, platform)
    select 'device-' || u, u, 1 from unnest(${ids.map((r) => r.id)}::uuid[]) as u`;
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
  let pushMs = 0;
  for (;;) {
    const [row] = await notifications<{ inbox: number; email: number; push: number }[]>`
      select (select count(*)::int from inbox where event_id = ${eventId}) as inbox,
             (select count(*)::int from deliveries where event_id = ${eventId} and channel = 2 and status in (1, 3)) as email,
             (select count(*)::int from deliveries where event_id = ${eventId} and channel = 1 and status in (1, 3)) as push`;
    const at = performance.now() - started;
    if (!inboxMs && row!.inbox >= RECIPIENTS) inboxMs = at;
    if (!emailMs && row!.email >= RECIPIENTS) emailMs = at;
    if (!pushMs && row!.push >= RECIPIENTS) pushMs = at;
    if (inboxMs && emailMs && pushMs) break;
    if (performance.now() - started > 300_000) throw new Error(`timed out: ${JSON.stringify(row)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const calls = brevo.calls
    .slice(callsBefore)
    .filter((c) => c.body.messageVersions?.some((v) => v.subject?.startsWith("New platform rule")));
  const delivered = calls.flatMap((c) => (c.body.messageVersions ?? []).map((v) => v.to[0]!.email));
  const duplicates = delivered.length - new Set(delivered).size;
  const pushed = fcm.received.map((r) => r.message.token);
  const pushDuplicates = pushed.length - new Set(pushed).size;
  const rows: [string, string][] = [
    ["recipients", String(RECIPIENTS)],
    ["time until every inbox item (s)", (inboxMs / 1000).toFixed(2)],
    ["time until every e-mail accepted (s)", (emailMs / 1000).toFixed(2)],
    ["e-mails per second", (RECIPIENTS / (emailMs / 1000)).toFixed(0)],
    ["Brevo API calls", String(calls.length)],
    ["recipients per call", (delivered.length / Math.max(1, calls.length)).toFixed(1)],
    ["e-mails delivered", String(delivered.length)],
    ["e-mail duplicates", String(duplicates)],
    ["time until every push accepted (s)", (pushMs / 1000).toFixed(2)],
    ["FCM requests (v1 API: one per device)", String(pushed.length)],
    ["pushes delivered", String(new Set(pushed).size)],
    ["push duplicates", String(pushDuplicates)],
  ];
  console.log("\nbench:fanout — one RULE_PUBLISHED event to every user");
  console.log(machine());
  for (const [k, v] of rows) console.log(`  ${k.padEnd(38)} ${v}`);
  if (duplicates !== 0 || delivered.length !== RECIPIENTS) process.exitCode = 1;
  if (pushDuplicates !== 0 || pushed.length !== RECIPIENTS) process.exitCode = 1;
} finally {
  await users.end();
  await notifications.end();
  await sys.close();
  await push.close();
  await brevo.close();
  await fcm.close();
}
process.exit(process.exitCode ?? 0);
