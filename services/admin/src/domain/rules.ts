/**
 * Platform rules: created, edited and deleted by admins (audited); published to every user
 * when created, and readable by every user from then on (the notice tells them when it takes
 * effect, so the rule it names must be there to read). Users are told again when it moves,
 * when an admin wants them told of another change, and when it is withdrawn.
 */
import { randomUUID } from "node:crypto";
import {
  type Cursor,
  enqueueEvent,
  InvalidArgumentError,
  NotFoundError,
  type Page,
  pageOf,
  type Sql,
} from "@classconnect/platform";
import type { AdminStore, RuleFields, RuleRecord } from "../store/store.js";
import { createAudit } from "./audit.js";

const snapshot = (r: RuleRecord) => ({
  title: r.title,
  description: r.description,
  effective_time: r.effectiveTime.toISOString(),
  conditions: r.conditions,
});

export function createRules(deps: { store: AdminStore; outbox: Sql; now: () => Date }) {
  const { store } = deps;
  const mustExist = (r: RuleRecord | undefined) => {
    if (!r) throw new NotFoundError("rule");
    return r;
  };
  /** A notice about `rule` to every user, in the transaction of the change it tells of. */
  const tellEveryone = (
    tx: Sql | undefined,
    type: "RULE_PUBLISHED" | "RULE_UPDATED" | "RULE_WITHDRAWN",
    rule: RuleRecord,
    more: Record<string, string> = {},
  ) =>
    enqueueEvent(tx ?? deps.outbox, {
      type,
      recipients: { allUsers: true },
      data: {
        rule_id: rule.id,
        rule_title: rule.title,
        effective_time: rule.effectiveTime.toISOString(),
        ...more,
      },
    });
  return {
    async create(adminId: string, fields: RuleFields): Promise<RuleRecord> {
      return store.atomically(async (s, tx) => {
        const rule = await s.createRule(randomUUID(), adminId, fields);
        await createAudit(s).append({
          adminId,
          action: "rule.create",
          resourceType: "rule",
          resourceId: rule.id,
          before: null,
          after: snapshot(rule),
        });
        await tellEveryone(tx, "RULE_PUBLISHED", rule);
        return rule;
      });
    },

    async get(id: string): Promise<RuleRecord> {
      return mustExist(await store.getRule(id));
    },

    /** Every rule, announced or in force; with `inForceOnly`, those in force now. */
    async list(inForceOnly: boolean, limit: number, after?: Cursor): Promise<Page<RuleRecord>> {
      const rows = await store.listRules(inForceOnly ? deps.now() : undefined, limit + 1, after);
      return pageOf(rows, limit, (r) => ({ key: r.effectiveTime.toISOString(), id: r.id }));
    },

    /**
     * Changes a rule. Users are told (RULE_UPDATED) when its effective time moves, and of any
     * other change when the admin asks (`notifyUsers`); the notice is made from the rule as it
     * was and is under its lock, so edits racing each other each name what they changed.
     */
    async update(
      adminId: string,
      id: string,
      changes: Partial<RuleFields>,
      validate: (merged: RuleFields) => void,
      notifyUsers = false,
    ) {
      if (changes.effectiveTime && changes.effectiveTime <= deps.now()) {
        throw new InvalidArgumentError([
          { field: "rule.effective_time", description: "must be in the future" },
        ]);
      }
      return store.atomically(async (s, tx) => {
        // Read under the rule's lock: the entry's `before` is the rule this change replaced.
        const before = mustExist(await s.ruleForUpdate(id));
        validate({ ...before, ...changes });
        const after = mustExist(await s.updateRule(id, changes));
        await createAudit(s).append({
          adminId,
          action: "rule.update",
          resourceType: "rule",
          resourceId: id,
          before: snapshot(before),
          after: snapshot(after),
        });
        const moved = after.effectiveTime.getTime() !== before.effectiveTime.getTime();
        if (moved || notifyUsers) {
          await tellEveryone(tx, "RULE_UPDATED", after, {
            ...(moved ? { previous_effective_time: before.effectiveTime.toISOString() } : {}),
            ...(after.title !== before.title ? { previous_rule_title: before.title } : {}),
          });
        }
        return after;
      });
    },

    /** Deletes a rule and tells every user it was withdrawn (it was announced to them all). */
    async remove(adminId: string, id: string): Promise<void> {
      await store.atomically(async (s, tx) => {
        const before = mustExist(await s.deleteRule(id));
        await createAudit(s).append({
          adminId,
          action: "rule.delete",
          resourceType: "rule",
          resourceId: id,
          before: snapshot(before),
          after: null,
        });
        await tellEveryone(tx, "RULE_WITHDRAWN", before, {
          was_in_force: String(before.effectiveTime <= deps.now()),
        });
      });
    },
  };
}

export type Rules = ReturnType<typeof createRules>;
