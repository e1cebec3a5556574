/**
 * The producer side of the transactional outbox: a service records an event in
 * its own database, in the transaction of the change that causes it; a relay
 * delivers it with the outbox id as idempotency key: notification events to the
 * notifications service, audit entries (`AUDIT_ENTRY`) to the admin service.
 */
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { JsonObject } from "@bufbuild/protobuf";
import { AuditService } from "@classconnect/gen/classconnect/admin/v1/audit_service_pb.js";
import { DispatchService } from "@classconnect/gen/classconnect/notifications/v1/dispatch_service_pb.js";
import { EventType } from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import { createClient } from "@connectrpc/connect";
import { listenForChanges } from "./change-signal.js";
import { createServiceTransport } from "./client.js";
import { deleteInBatches, type Sql, type TransactionSql } from "./db.js";
import type { Logger } from "./logger.js";
import { observeGauges } from "./telemetry.js";
import { startWorkerLoop } from "./worker-loop.js";

/** Add to a service's migration sources to get the `outbox` table. */
export const outboxMigrations = {
  prefix: "outbox/",
  dir: join(dirname(fileURLToPath(import.meta.url)), "..", "migrations", "outbox"),
};

/**
 * Event types: notifications, as named by classconnect.notifications.v1.EventType, and
 * `AUDIT_ENTRY`, an administrator's change for the admin service's audit log.
 */
export type OutboxEventType =
  | "AUDIT_ENTRY"
  | "ENROLLED"
  | "ASSESSMENT_PUBLISHED"
  | "DEADLINE_REMINDER"
  | "DUE_TIME_CHANGED"
  | "ASSESSMENT_TERMS_CHANGED"
  | "ASSESSMENT_DELETED"
  | "SUBMISSION_GRADED"
  | "FEEDBACK_RECEIVED"
  | "ASSISTANT_ADDED"
  | "ASSISTANT_REMOVED"
  | "ASSISTANT_UPDATED"
  | "STUDENT_REMOVED"
  | "COURSE_DELETED"
  | "COURSE_FINISHED"
  | "COURSE_REOPENED"
  | "COURSE_UPDATED"
  | "ACCOUNT_PIN"
  | "PASSWORD_RESET"
  | "WELCOME"
  | "PASSWORD_CHANGED"
  | "EMAIL_CHANGED"
  | "RULE_PUBLISHED"
  | "RULE_UPDATED"
  | "RULE_WITHDRAWN"
  | "ACCOUNT_BLOCKED"
  | "ACCOUNT_UNBLOCKED"
  | "ACCOUNT_DELETED";

export interface OutboxEvent {
  type: OutboxEventType;
  /** Users, a course's students, everyone, or (system e-mails) one raw address. */
  recipients: { userIds?: string[]; courseId?: string; allUsers?: boolean; email?: string };
  /** Template values (course_title, grade, …). */
  data: Record<string, string>;
}

/**
 * An administrator's change made in another service, for the admin service's audit log;
 * `before` and `after` are the resource's states (null for a creation or a deletion).
 */
export interface AuditEntryEvent {
  adminId: string;
  action: string;
  resourceType: string;
  resourceId: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

/** Records `entry` in the caller's transaction, to be appended to the audit log once; returns its id. */
export function enqueueAuditEntry(tx: TransactionSql | Sql, entry: AuditEntryEvent): Promise<string> {
  return enqueueEvent(tx, {
    type: "AUDIT_ENTRY",
    recipients: {},
    data: {
      admin_id: entry.adminId,
      action: entry.action,
      resource_type: entry.resourceType,
      resource_id: entry.resourceId,
      before: JSON.stringify(entry.before),
      after: JSON.stringify(entry.after),
    },
  });
}

/** Records `event` in the caller's transaction; returns its id (the idempotency key). */
export async function enqueueEvent(tx: TransactionSql | Sql, event: OutboxEvent): Promise<string> {
  const id = randomUUID();
  await tx`
    insert into outbox (id, event_type, recipients, data)
    values (${id}, ${event.type}, ${tx.json(event.recipients)}, ${tx.json(event.data)})`;
  return id;
}

/** The most users one event may name: DispatchService's limit on `Recipients.user_ids`. */
export const MAX_EVENT_USERS = 10_000;

/**
 * Records `events` in the caller's transaction with one statement however many there are
 * (a finished course's notices, one per graded student). An event naming more than
 * MAX_EVENT_USERS users is recorded as several that name at most that many each; the first
 * also names its other recipients.
 */
export async function enqueueEvents(tx: TransactionSql | Sql, events: OutboxEvent[]): Promise<void> {
  const rows = events.flatMap((e) => {
    const users = e.recipients.userIds;
    if (!users || users.length <= MAX_EVENT_USERS) return [e];
    // The first part keeps the event's other recipients (a course's students, …), once.
    return Array.from({ length: Math.ceil(users.length / MAX_EVENT_USERS) }, (_, i) => ({
      ...e,
      recipients: {
        ...(i === 0 ? e.recipients : {}),
        userIds: users.slice(i * MAX_EVENT_USERS, (i + 1) * MAX_EVENT_USERS),
      },
    }));
  });
  if (rows.length === 0) return;
  await tx`
    insert into outbox (id, event_type, recipients, data)
    select id, event_type, recipients::jsonb, data::jsonb from unnest(
      ${rows.map(() => randomUUID())}::uuid[],
      ${rows.map((e) => e.type)}::text[],
      ${rows.map((e) => JSON.stringify(e.recipients))}::text[],
      ${rows.map((e) => JSON.stringify(e.data))}::text[]) as e(id, event_type, recipients, data)`;
}

/** An outbox row as the relay hands it to the publisher. */
export interface OutboxRecord extends OutboxEvent {
  id: string;
  attempts: number;
}

/** Delivers one event to the notifications service; throws to retry later. */
export type OutboxPublisher = (event: OutboxRecord) => Promise<void>;

/** Events whose data holds a secret (a PIN, a reset token): scrubbed once delivered. */
const sensitive = new Set<OutboxEventType>(["ACCOUNT_PIN", "PASSWORD_RESET"]);

export interface RelayOptions {
  /** The service whose outbox this is (the `service` attribute of its gauges). */
  service: string;
  sql: Sql;
  publish: OutboxPublisher;
  logger: Logger;
  /** Longest idle wait: recording an event wakes the relay at once, a retry when it is due. */
  pollMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  leaseMs?: number;
  /** Published rows are kept this long (for inspection), then deleted; default 7 days. */
  retentionMs?: number;
  /** How often a relay deletes what has passed `retentionMs`; default hourly. */
  pruneEveryMs?: number;
}

/**
 * Relays the outbox at least once, with exponential backoff: rows are leased
 * (so parallel relays and replicas never send the same row at once), published
 * with their id as idempotency key, then marked published. An outage of the
 * notifications service only delays delivery.
 *
 * It does not poll on a short timer: an insert's NOTIFY (migration 0002, any
 * replica) wakes it at once, and when it finds nothing to send it sleeps until
 * the earliest pending row is due (a retry, or a lease of a relay that died),
 * at most `pollMs`. Rows published more than `retentionMs` (a week) ago are
 * deleted, hourly.
 */
export function startOutboxRelay(options: RelayOptions) {
  const { sql, logger } = options;
  const pollMs = options.pollMs ?? 10_000;
  const base = options.baseDelayMs ?? 1000;
  const max = options.maxDelayMs ?? 5 * 60_000;
  const lease = options.leaseMs ?? 30_000;
  const retention = options.retentionMs ?? 7 * 24 * 3_600_000;
  const pruneEvery = options.pruneEveryMs ?? 3_600_000;
  let pruneAt = 0;

  /**
   * Deletes rows published more than `retention` ago, a batch at a time, at most every
   * `pruneEvery`: without it the outbox would grow by every event the service ever recorded.
   * Unpublished rows are never deleted, however old.
   */
  async function prune(): Promise<void> {
    if (Date.now() < pruneAt) return;
    pruneAt = Date.now() + pruneEvery;
    await deleteInBatches(
      (batch) => sql`
        delete from outbox where id in (
          select id from outbox where published_at < now() - ${retention} * interval '1 millisecond' limit ${batch})`,
    );
  }

  async function pass(): Promise<number> {
    const rows = await sql<
      {
        id: string;
        event_type: OutboxEventType;
        recipients: OutboxEvent["recipients"];
        data: Record<string, string>;
        attempts: number;
      }[]
    >`
      update outbox set next_attempt_at = now() + ${lease} * interval '1 millisecond', attempts = attempts + 1
      where id in (
        select id from outbox where published_at is null and next_attempt_at <= now()
        order by created_at limit 100 for update skip locked)
      returning id, event_type, recipients, data, attempts`;
    await Promise.all(
      rows.map(async (r) => {
        try {
          await options.publish({
            id: r.id,
            type: r.event_type,
            recipients: r.recipients,
            data: r.data,
            attempts: r.attempts,
          });
          await sql`
            update outbox set published_at = now(), last_error = null
              ${sensitive.has(r.event_type) ? sql`, data = '{}'` : sql``}
            where id = ${r.id}`;
        } catch (err) {
          const delay = Math.min(max, base * 2 ** (r.attempts - 1)) * (0.8 + Math.random() * 0.4);
          await sql`
            update outbox set next_attempt_at = now() + ${Math.round(delay)} * interval '1 millisecond',
                              last_error = ${(err as Error).message.slice(0, 500)}
            where id = ${r.id}`;
          if (r.attempts % 5 === 1)
            logger.warn({ event: r.id, attempts: r.attempts }, "outbox delivery failed; retrying");
        }
      }),
    );
    return rows.length;
  }

  /** Milliseconds until the earliest pending row is due (0: now), or undefined when none is pending. */
  async function nextDue(): Promise<number | undefined> {
    const [row] = await sql<{ ms: number | null }[]>`
      select (extract(epoch from min(next_attempt_at) - now()) * 1000)::float8 as ms
      from outbox where published_at is null`;
    return row?.ms == null ? undefined : Math.max(0, row.ms);
  }

  const worker = startWorkerLoop({
    name: "outbox relay",
    pollMs,
    logger,
    // A row due now that the claim skipped is another relay's, being leased this instant: look again shortly.
    pass: async () => {
      if ((await pass()) > 0) return true;
      await prune();
      return Math.max(50, (await nextDue()) ?? pollMs);
    },
  });
  const changes = listenForChanges(sql, "classconnect_outbox", logger, () => worker.wake());
  // What has not reached the notifications service yet, for alerts: it grows while it is down.
  const attributes = { service: options.service };
  const unobserve = observeGauges(async () => {
    const [row] = await sql<{ count: number; age: number }[]>`
        select count(*)::int as count, coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as age
        from outbox where published_at is null`;
    return row!;
  }, [
    {
      name: "outbox_pending_events",
      description: "Events recorded and not yet delivered",
      values: (r) => [{ value: r.count, attributes }],
    },
    {
      name: "outbox_oldest_pending_seconds",
      description: "Age of the oldest event not yet delivered",
      values: (r) => [{ value: r.age, attributes }],
    },
  ]);
  return {
    wake: worker.wake,
    async stop() {
      unobserve();
      await worker.stop();
      await changes.close();
    },
  };
}

/**
 * The publisher that delivers as an internal caller: audit entries to the admin service
 * (AuditService.RecordAuditEntry), every other event to the notifications service
 * (DispatchService). An audit entry with no admin service to go to stays in the outbox.
 */
export function createOutboxPublisher(urls: {
  notifications: string;
  admin: string | undefined;
  serviceToken: string;
}): OutboxPublisher {
  const { serviceToken } = urls;
  const dispatch = createClient(
    DispatchService,
    createServiceTransport(urls.notifications, { serviceToken }),
  );
  const audit =
    urls.admin && createClient(AuditService, createServiceTransport(urls.admin, { serviceToken }));
  return async (e) => {
    if (e.type === "AUDIT_ENTRY") {
      if (!audit) throw new Error("no admin service is configured to take audit entries");
      await audit.recordAuditEntry(
        {
          entryId: e.id,
          adminId: e.data["admin_id"] ?? "",
          action: e.data["action"] ?? "",
          resourceType: e.data["resource_type"] ?? "",
          resourceId: e.data["resource_id"] ?? "",
          ...jsonObjectField("before", e.data["before"]),
          ...jsonObjectField("after", e.data["after"]),
        },
        { timeoutMs: 10_000 },
      );
      return;
    }
    const eventType = EventType[e.type];
    if (e.recipients.email) {
      await dispatch.sendSystemEmail(
        { messageId: e.id, to: e.recipients.email, eventType, data: e.data },
        { timeoutMs: 10_000 },
      );
      return;
    }
    await dispatch.publishEvent(
      {
        eventId: e.id,
        eventType,
        recipients: {
          userIds: e.recipients.userIds ?? [],
          courseId: e.recipients.courseId ?? "",
          allUsers: e.recipients.allUsers ?? false,
        },
        data: e.data,
      },
      { timeoutMs: 10_000 },
    );
  };
}

/** `{ [name]: object }` for a JSON object, `{}` for JSON null (a creation's `before`, a deletion's `after`). */
function jsonObjectField(name: string, json: string | undefined): Record<string, JsonObject> {
  const value: unknown = json === undefined ? null : JSON.parse(json);
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? { [name]: value as JsonObject }
    : {};
}
