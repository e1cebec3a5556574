import { randomUUID } from "node:crypto";
import {
  AlreadyExistsError,
  type Cursor,
  enqueueEvent,
  inTransaction,
  type OutboxEvent,
  PermissionDeniedError,
  type Sql,
  type TransactionSql,
} from "@classconnect/platform";
import type { PermissionValue } from "../domain/model.js";

export interface AssistantRecord {
  courseId: string;
  userId: string;
  permissions: PermissionValue[];
  addedAt: Date;
}

export interface ActivityRecord {
  id: string;
  courseId: string;
  actorId: string;
  action: string;
  resourceType: string;
  resourceId: string;
  details: string;
  createdAt: Date;
}

export interface Activity {
  courseId: string;
  actorId: string;
  /** The permission the action needs; an assistant who no longer holds it is refused. */
  permission: PermissionValue;
  action: string;
  resourceType: string;
  resourceId: string;
  details: string;
}

interface AssistantRow {
  course_id: string;
  user_id: string;
  permissions: number[];
  added_at: Date;
}

const toAssistant = (r: AssistantRow): AssistantRecord => ({
  courseId: r.course_id,
  userId: r.user_id,
  permissions: r.permissions as PermissionValue[],
  addedAt: r.added_at,
});

/**
 * Appends an assistant's action to the course's activity log, in the transaction of the write
 * it records, while the assistant still holds the action's permission: RemoveAssistant and
 * UpdateAssistant wait for the write, and a write that waited for either is refused
 * (MISSING_PERMISSION; the transaction rolls back).
 */
export async function logActivity(tx: TransactionSql, a: Activity): Promise<void> {
  const [logged] = await tx`
    insert into activity_log (id, course_id, actor_id, action, resource_type, resource_id, details)
    select ${randomUUID()}, course_id, user_id, ${a.action}, ${a.resourceType}, ${a.resourceId}, ${a.details}
    from assistants
    where course_id = ${a.courseId} and user_id = ${a.actorId} and ${a.permission}::smallint = any(permissions)
    for share
    returning 1`;
  if (!logged) {
    throw new PermissionDeniedError(
      "your assistant role in this course changed while you made this change; it was not made",
      "MISSING_PERMISSION",
    );
  }
}

export function createStaffStore(sql: Sql) {
  return {
    async assistant(courseId: string, userId: string): Promise<AssistantRecord | undefined> {
      const [row] = await sql<AssistantRow[]>`
        select * from assistants where course_id = ${courseId} and user_id = ${userId}`;
      return row && toAssistant(row);
    },

    /**
     * Adds an assistant unless they are enrolled in the course ("student") or the course is
     * gone. Locks the course row as enrollments do, so no one becomes both at once.
     */
    async add(
      courseId: string,
      userId: string,
      permissions: PermissionValue[],
      event: OutboxEvent,
    ): Promise<AssistantRecord | "student" | undefined> {
      return inTransaction(sql, async (tx) => {
        const [course] = await tx`
          select 1 from courses where id = ${courseId} and deleted_at is null for no key update`;
        if (!course) return undefined;
        const [enrolled] = await tx`
          select 1 from enrollments where course_id = ${courseId} and student_id = ${userId}`;
        if (enrolled) return "student";
        try {
          const [row] = await tx<AssistantRow[]>`
            insert into assistants (course_id, user_id, permissions)
            values (${courseId}, ${userId}, ${permissions}) returning *`;
          await enqueueEvent(tx, event);
          return toAssistant(row!);
        } catch (err) {
          if ((err as { code?: string }).code === "23505") {
            throw new AlreadyExistsError(
              "this user is already an assistant of the course",
              "ALREADY_ASSISTANT",
            );
          }
          throw err;
        }
      });
    },

    /** Sets an assistant's permissions; records `event` only when they change. */
    async update(courseId: string, userId: string, permissions: PermissionValue[], event: OutboxEvent) {
      return inTransaction(sql, async (tx) => {
        const [before] = await tx<{ permissions: number[] }[]>`
          select permissions from assistants where course_id = ${courseId} and user_id = ${userId} for update`;
        if (!before) return undefined;
        const [row] = await tx<AssistantRow[]>`
          update assistants set permissions = ${permissions}
          where course_id = ${courseId} and user_id = ${userId} returning *`;
        const asSet = (a: number[]) => [...new Set(a)].sort().join();
        if (asSet(before.permissions) !== asSet(permissions)) await enqueueEvent(tx, event);
        return toAssistant(row!);
      });
    },

    async remove(courseId: string, userId: string, event: OutboxEvent): Promise<boolean> {
      return inTransaction(sql, async (tx) => {
        const [row] =
          await tx`delete from assistants where course_id = ${courseId} and user_id = ${userId} returning 1`;
        if (row) await enqueueEvent(tx, event);
        return row !== undefined;
      });
    },

    async list(courseId: string): Promise<AssistantRecord[]> {
      const rows = await sql<AssistantRow[]>`
        select * from assistants where course_id = ${courseId} order by added_at, user_id`;
      return rows.map(toAssistant);
    },

    async activity(courseId: string, actorId: string | undefined, limit: number, after?: Cursor) {
      const rows = await sql<
        {
          id: string;
          course_id: string;
          actor_id: string;
          action: string;
          resource_type: string;
          resource_id: string;
          details: string;
          created_at: Date;
        }[]
      >`
        select * from activity_log
        where course_id = ${courseId}
          ${actorId ? sql`and actor_id = ${actorId}` : sql``}
          ${after ? sql`and (created_at, id) < (${after.key}::timestamptz, ${after.id}::uuid)` : sql``}
        order by created_at desc, id desc limit ${limit}`;
      return rows.map(
        (r): ActivityRecord => ({
          id: r.id,
          courseId: r.course_id,
          actorId: r.actor_id,
          action: r.action,
          resourceType: r.resource_type,
          resourceId: r.resource_id,
          details: r.details,
          createdAt: r.created_at,
        }),
      );
    },
  };
}

export type StaffStore = ReturnType<typeof createStaffStore>;
