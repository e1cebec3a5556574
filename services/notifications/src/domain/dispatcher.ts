/**
 * The delivery worker. Accepted events are expanded into deliveries (one per
 * recipient and channel, skipped where preferences say so) and inbox items;
 * pending deliveries are sent in provider batches and retried with exponential
 * backoff. Everything it does is recorded in the store first, so a crash or a
 * provider outage loses nothing, and unique keys keep a re-run from creating
 * a second delivery or inbox item.
 */
import { randomUUID } from "node:crypto";
import { type Logger, startWorkerLoop } from "@classconnect/platform";
import type { Directory } from "../ports/directory.js";
import type { EmailSender } from "../ports/email.js";
import type { PushSender } from "../ports/push.js";
import {
  Channel,
  type DeliveryRecord,
  DeliveryStatus,
  type EventRecord,
  type NewDelivery,
  type NotificationsStore,
} from "../store/store.js";
import { channelsFor, defaultPreferences } from "./preferences.js";
import { render } from "./templates.js";

export interface RetryPolicy {
  /** First retry delay; doubles each attempt. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** After this many attempts a delivery is logged as failed. */
  maxAttempts: number;
  /** How long a claimed item stays invisible to other workers. */
  leaseMs: number;
  /** Longest idle wait: accepted events wake the dispatcher at once, retries when they are due. */
  pollMs: number;
}

export const defaultRetryPolicy: RetryPolicy = {
  baseDelayMs: 1000,
  maxDelayMs: 5 * 60_000,
  maxAttempts: 8,
  leaseMs: 60_000,
  pollMs: 10_000,
};

const RECIPIENT_BATCH = 500;

export interface DispatcherDeps {
  store: NotificationsStore;
  directory: Directory;
  email: EmailSender;
  push: PushSender;
  logger: Logger;
  retry: RetryPolicy;
}

export function createDispatcher(deps: DispatcherDeps) {
  const { store, retry, logger } = deps;
  const backoff = (attempt: number) =>
    Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** Math.max(0, attempt - 1)) *
    (0.8 + Math.random() * 0.4);

  async function* recipientPages(event: EventRecord): AsyncIterable<string[]> {
    const { userIds, courseId, allUsers } = event.recipients;
    if (userIds?.length)
      for (let i = 0; i < userIds.length; i += RECIPIENT_BATCH) yield userIds.slice(i, i + RECIPIENT_BATCH);
    if (courseId) yield* deps.directory.courseStudents(courseId);
    if (allUsers) yield* deps.directory.allUsers();
  }

  /** Deliveries and inbox items for one page of recipients. */
  async function expandPage(event: EventRecord, ids: string[]) {
    const [contacts, prefs, devices] = await Promise.all([
      deps.directory.contacts(ids),
      store.getPreferences(ids),
      store.devicesOf(ids),
    ]);
    const inbox = [];
    const deliveries: NewDelivery[] = [];
    for (const c of contacts) {
      if (!c.active && event.type !== "ACCOUNT_BLOCKED") continue;
      const channels = channelsFor(prefs.get(c.userId) ?? defaultPreferences(c.optIn), event.type);
      const content = render(event.type, event.data, c.firstName, c.timeZone);
      const base = { eventId: event.id, eventType: event.type, recipientId: c.userId };
      const skipped = { status: DeliveryStatus.SKIPPED_BY_PREFERENCE, reason: "turned off by the user" };
      // An address nobody has confirmed may be someone else's: e-mail waits for the PIN.
      const unverified = {
        status: DeliveryStatus.SKIPPED_UNVERIFIED,
        reason: "the e-mail address is not confirmed",
      };
      if (channels.inApp) {
        inbox.push({
          id: randomUUID(),
          userId: c.userId,
          eventId: event.id,
          eventType: event.type,
          title: content.title,
          body: content.body,
          link: content.link,
        });
      }
      deliveries.push({
        ...base,
        id: randomUUID(),
        channel: Channel.IN_APP,
        address: "inbox",
        ...(channels.inApp ? { status: DeliveryStatus.SENT } : skipped),
      });
      deliveries.push({
        ...base,
        id: randomUUID(),
        channel: Channel.EMAIL,
        address: c.email,
        ...(!channels.email
          ? skipped
          : !c.emailVerified
            ? unverified
            : {
                status: DeliveryStatus.PENDING,
                payload: { subject: content.subject, text: content.text, html: content.html },
              }),
      });
      for (const d of devices.filter((x) => x.userId === c.userId)) {
        deliveries.push({
          ...base,
          id: randomUUID(),
          channel: Channel.PUSH,
          address: d.token,
          ...(channels.push
            ? {
                status: DeliveryStatus.PENDING,
                payload: { title: content.title, body: content.body, link: content.link },
              }
            : skipped),
        });
      }
    }
    await store.insertInbox(inbox);
    await store.insertDeliveries(deliveries);
  }

  async function expand(event: EventRecord) {
    if (event.system) {
      const content = render(event.type, event.data, event.data["first_name"]);
      await store.insertDeliveries([
        {
          id: randomUUID(),
          eventId: event.id,
          eventType: event.type,
          channel: Channel.EMAIL,
          recipientId: "",
          address: event.recipients.email ?? "",
          status: DeliveryStatus.PENDING,
          payload: { subject: content.subject, text: content.text, html: content.html },
        },
      ]);
      return;
    }
    for await (const ids of recipientPages(event)) if (ids.length > 0) await expandPage(event, ids);
  }

  /** Applies a provider's per-message results to the deliveries it covered. */
  async function settle(
    rows: DeliveryRecord[],
    results: { ok: boolean; retryable?: boolean; reason?: string }[],
  ) {
    const sent: string[] = [];
    const failed = new Map<string, string[]>();
    const retries = new Map<number, string[]>();
    rows.forEach((row, i) => {
      const r = results[i] ?? { ok: false, retryable: true, reason: "no result" };
      if (r.ok) sent.push(row.id);
      else if (r.retryable && row.attempts < retry.maxAttempts) {
        const delay = Math.round(backoff(row.attempts));
        retries.set(delay, [...(retries.get(delay) ?? []), row.id]);
      } else {
        const reason = `${r.reason ?? "failed"}${r.retryable ? ` (gave up after ${row.attempts} attempts)` : ""}`;
        failed.set(reason, [...(failed.get(reason) ?? []), row.id]);
      }
    });
    await store.finishDeliveries(sent, { status: DeliveryStatus.SENT });
    for (const [reason, ids] of failed)
      await store.finishDeliveries(ids, { status: DeliveryStatus.FAILED, reason });
    for (const [delay, ids] of retries) {
      await store.finishDeliveries(ids, {
        status: DeliveryStatus.PENDING,
        reason: "retrying",
        retryInMs: delay,
      });
    }
  }

  async function sendEmails(rows: DeliveryRecord[]) {
    for (let i = 0; i < rows.length; i += deps.email.batchSize) {
      const batch = rows.slice(i, i + deps.email.batchSize);
      const results = await deps.email.sendBatch(
        batch.map((d) => ({
          to: d.address,
          subject: d.payload.subject ?? "",
          text: d.payload.text ?? "",
          html: d.payload.html ?? "",
        })),
      );
      await settle(batch, results);
    }
  }

  async function sendPushes(rows: DeliveryRecord[]) {
    const byEvent = new Map<string, DeliveryRecord[]>();
    for (const r of rows)
      byEvent.set(`${r.eventId}|${r.recipientId}`, [
        ...(byEvent.get(`${r.eventId}|${r.recipientId}`) ?? []),
        r,
      ]);
    // One multicast per event and message text (each recipient's text differs only by greeting, not used in pushes).
    const byMessage = new Map<string, DeliveryRecord[]>();
    for (const r of rows) {
      const key = `${r.eventId}|${r.payload.title}|${r.payload.body}`;
      byMessage.set(key, [...(byMessage.get(key) ?? []), r]);
    }
    for (const group of byMessage.values()) {
      for (let i = 0; i < group.length; i += deps.push.batchSize) {
        const batch = group.slice(i, i + deps.push.batchSize);
        const first = batch[0]!.payload;
        const results = await deps.push.sendMulticast(
          batch.map((d) => d.address),
          { title: first.title ?? "", body: first.body ?? "", link: first.link ?? "" },
        );
        const invalid = batch.filter((_, j) => {
          const r = results[j];
          return r && !r.ok && r.invalidToken;
        });
        await store.removeTokens(invalid.map((d) => d.address));
        await settle(batch, results);
      }
    }
  }

  /** One pass: expand due events, then send due deliveries. True when there was work. */
  async function runOnce(): Promise<boolean> {
    let worked = false;
    const abandoned = await store.failAbandoned(
      "outcome unknown: the sender stopped mid-send; not resent, to avoid a duplicate",
    );
    if (abandoned > 0)
      logger.warn({ deliveries: abandoned }, "deliveries abandoned mid-send logged as failed");
    for (const event of await store.claimEvents(10, retry.leaseMs)) {
      worked = true;
      try {
        await expand(event);
        await store.completeEvent(event.id);
      } catch (err) {
        logger.warn({ err, event: event.id }, "event expansion failed; will retry");
        await store.retryEvent(event.id, backoff(event.attempts), (err as Error).message);
      }
    }
    for (;;) {
      // One provider batch at a time: a crash can only leave that batch's outcome unknown.
      const due = await store.claimDeliveries(deps.email.batchSize, retry.leaseMs);
      if (due.length === 0) break;
      worked = true;
      await sendEmails(due.filter((d) => d.channel === Channel.EMAIL));
      await sendPushes(due.filter((d) => d.channel === Channel.PUSH));
    }
    return worked;
  }

  let worker: ReturnType<typeof startWorkerLoop> | undefined;
  return {
    runOnce,
    /** Runs at once instead of waiting for the next poll. */
    wake: () => worker?.wake(),
    start() {
      worker ??= startWorkerLoop({
        name: "dispatcher",
        pollMs: retry.pollMs,
        logger,
        // Idle, it sleeps until the next retry or lease is due (an accepted event wakes it sooner).
        pass: async () => (await runOnce()) || Math.max(20, (await store.nextDueInMs()) ?? retry.pollMs),
      });
    },
    /** Finishes the current pass, then stops. */
    async stop() {
      await worker?.stop();
      worker = undefined;
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
