/**
 * The producer side of the transactional outbox: a service records an event in
 * its own database, in the transaction of the change that causes it; a relay
 * delivers it to the notifications service with the outbox id as idempotency key.
 */
import { randomUUID } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Sql, TransactionSql } from "./db.js";

/** Add to a service's migration sources to get the `outbox` table. */
export const outboxMigrations = {
  prefix: "outbox/",
  dir: join(dirname(fileURLToPath(import.meta.url)), "..", "migrations", "outbox"),
};

/** Event types, as named by classconnect.notifications.v1.EventType. */
export type OutboxEventType =
  | "ENROLLED"
  | "ASSESSMENT_PUBLISHED"
  | "DEADLINE_REMINDER"
  | "SUBMISSION_GRADED"
  | "FEEDBACK_RECEIVED"
  | "ASSISTANT_ADDED"
  | "ASSISTANT_REMOVED"
  | "STUDENT_REMOVED"
  | "ACCOUNT_PIN"
  | "PASSWORD_RESET"
  | "WELCOME"
  | "RULE_PUBLISHED"
  | "ACCOUNT_BLOCKED"
  | "ACCOUNT_UNBLOCKED";

export interface OutboxEvent {
  type: OutboxEventType;
  recipients: { userIds?: string[]; courseId?: string; allUsers?: boolean };
  /** Template values (course_title, grade, …). */
  data: Record<string, string>;
}

/** Records `event` in the caller's transaction; returns its id (the idempotency key). */
export async function enqueueEvent(tx: TransactionSql | Sql, event: OutboxEvent): Promise<string> {
  const id = randomUUID();
  await tx`
    insert into outbox (id, event_type, recipients, data)
    values (${id}, ${event.type}, ${tx.json(event.recipients)}, ${tx.json(event.data)})`;
  return id;
}
