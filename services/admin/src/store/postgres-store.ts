import {
  AlreadyExistsError,
  type Cursor,
  createPostgresLoginAttempts,
  inTransaction,
  type Sql,
} from "@classconnect/platform";
import type { AdminRecord, AdminStore, AuditRecord, RuleRecord } from "./store.js";

interface AdminRow {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  created_by: string;
  created_at: Date;
  disabled_at: Date | null;
}
const toAdmin = (r: AdminRow): AdminRecord => ({
  id: r.id,
  email: r.email,
  name: r.name,
  passwordHash: r.password_hash,
  createdBy: r.created_by,
  createdAt: r.created_at,
  disabledAt: r.disabled_at,
});

interface RuleRow {
  id: string;
  title: string;
  description: string;
  effective_time: Date;
  conditions: string[];
  created_by: string;
  created_at: Date;
  updated_at: Date;
}
const toRule = (r: RuleRow): RuleRecord => ({
  id: r.id,
  title: r.title,
  description: r.description,
  effectiveTime: r.effective_time,
  conditions: r.conditions,
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

interface AuditRow {
  sequence: string;
  admin_id: string;
  action: string;
  resource_type: string;
  resource_id: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  created_at: Date;
  previous_hash: string;
  hash: string;
  entry_id: string | null;
}
const toAudit = (r: AuditRow): AuditRecord => ({
  ...(r.entry_id ? { entryId: r.entry_id } : {}),
  sequence: Number(r.sequence),
  adminId: r.admin_id,
  action: r.action,
  resourceType: r.resource_type,
  resourceId: r.resource_id,
  before: r.before,
  after: r.after,
  createdAt: r.created_at,
  previousHash: r.previous_hash,
  hash: r.hash,
});

export const GENESIS_HASH = "0".repeat(64);

export function createPostgresAdminStore(sql: Sql): AdminStore {
  return {
    ...createPostgresLoginAttempts(sql, "admin_login_attempts"),
    atomically: (work) => inTransaction(sql, (tx) => work(createPostgresAdminStore(tx), tx)),
    async createAdmin(a) {
      try {
        const [row] = await sql<AdminRow[]>`
          insert into admins (id, email, name, password_hash, created_by)
          values (${a.id}, ${a.email}, ${a.name}, ${a.passwordHash}, ${a.createdBy}) returning *`;
        return toAdmin(row!);
      } catch (err) {
        if ((err as { code?: string }).code === "23505") {
          throw new AlreadyExistsError("an administrator with this e-mail already exists", "EMAIL_TAKEN");
        }
        throw err;
      }
    },
    async adminByEmail(email) {
      const [row] = await sql<AdminRow[]>`select * from admins where email = ${email}`;
      return row && toAdmin(row);
    },
    async adminById(id) {
      const [row] = await sql<AdminRow[]>`select * from admins where id = ${id}`;
      return row && toAdmin(row);
    },
    async setAdminPassword(id, passwordHash) {
      const rows = await sql`update admins set password_hash = ${passwordHash} where id = ${id} returning 1`;
      return rows.length > 0;
    },
    async createSession(s, now) {
      await inTransaction(sql, async (tx) => {
        await tx`delete from admin_sessions where admin_id = ${s.adminId} and expires_at < ${now}`;
        await tx`insert into admin_sessions (id, admin_id, expires_at) values (${s.id}, ${s.adminId}, ${s.expiresAt})`;
      });
    },
    async sessionIsActive(adminId, sessionId, now) {
      const rows = await sql`
        select 1 from admin_sessions
        where id = ${sessionId} and admin_id = ${adminId} and revoked_at is null and expires_at > ${now}`;
      return rows.length > 0;
    },
    async revokeSessions(adminId, which, now) {
      const rows = await sql`
        update admin_sessions set revoked_at = ${now}
        where admin_id = ${adminId} and revoked_at is null and expires_at > ${now}
          ${which.only ? sql`and id = ${which.only}` : sql``}
          ${which.except ? sql`and id <> ${which.except}` : sql``}
        returning 1`;
      return rows.length;
    },
    async revokedSessions(since, now) {
      const rows = await sql<{ id: string; revoked_at: Date; expires_at: Date }[]>`
        select id, revoked_at, expires_at from admin_sessions
        where revoked_at >= ${since} and expires_at > ${now}
        order by revoked_at, id`;
      return rows.map((r) => ({ sessionId: r.id, revokedAt: r.revoked_at, expiresAt: r.expires_at }));
    },
    async setAdminDisabled(id, at) {
      const [row] = await sql<AdminRow[]>`update admins set disabled_at = ${at} where id = ${id} returning *`;
      return row && toAdmin(row);
    },
    async listAdmins(limit, after?: Cursor) {
      const rows = await sql<AdminRow[]>`
        select * from admins
        ${after ? sql`where (created_at, id) > (${after.key}::timestamptz, ${after.id}::uuid)` : sql``}
        order by created_at, id limit ${limit}`;
      return rows.map(toAdmin);
    },

    async createRule(id, createdBy, r) {
      const [row] = await sql<RuleRow[]>`
        insert into rules (id, title, description, effective_time, conditions, created_by)
        values (${id}, ${r.title}, ${r.description}, ${r.effectiveTime}, ${r.conditions}, ${createdBy}) returning *`;
      return toRule(row!);
    },
    async getRule(id) {
      const [row] = await sql<RuleRow[]>`select * from rules where id = ${id}`;
      return row && toRule(row);
    },
    async ruleForUpdate(id) {
      const [row] = await sql<RuleRow[]>`select * from rules where id = ${id} for update`;
      return row && toRule(row);
    },
    async listRules(inForceAt, limit, after) {
      const rows = await sql<RuleRow[]>`
        select * from rules
        where true ${inForceAt ? sql`and effective_time <= ${inForceAt}` : sql``}
          ${after ? sql`and (effective_time, id) < (${after.key}::timestamptz, ${after.id}::uuid)` : sql``}
        order by effective_time desc, id desc limit ${limit}`;
      return rows.map(toRule);
    },
    async updateRule(id, r) {
      const values: Record<string, unknown> = { updated_at: new Date() };
      if (r.title !== undefined) values["title"] = r.title;
      if (r.description !== undefined) values["description"] = r.description;
      if (r.effectiveTime !== undefined) values["effective_time"] = r.effectiveTime;
      if (r.conditions !== undefined) values["conditions"] = r.conditions;
      const [row] = await sql<RuleRow[]>`update rules set ${sql(values)} where id = ${id} returning *`;
      return row && toRule(row);
    },
    async deleteRule(id) {
      const [row] = await sql<RuleRow[]>`delete from rules where id = ${id} returning *`;
      return row && toRule(row);
    },

    async appendAudit(entry, seal) {
      return inTransaction(sql, async (tx) => {
        // One appender at a time: the chain must not fork.
        await tx`select pg_advisory_xact_lock(hashtext('classconnect.audit'))`;
        if (entry.entryId) {
          const [appended] = await tx<
            AuditRow[]
          >`select * from audit_entries where entry_id = ${entry.entryId}`;
          if (appended) return toAudit(appended);
        }
        const [last] = await tx<{ sequence: string; hash: string }[]>`
          select sequence, hash from audit_entries order by sequence desc limit 1`;
        const sequence = last ? Number(last.sequence) + 1 : 1;
        const previousHash = last?.hash ?? GENESIS_HASH;
        const createdAt = new Date(Math.floor(Date.now()));
        const hash = seal(sequence, previousHash, createdAt);
        const [row] = await tx<AuditRow[]>`
          insert into audit_entries (sequence, admin_id, action, resource_type, resource_id, before, after,
                                     created_at, previous_hash, hash, entry_id)
          values (${sequence}, ${entry.adminId}, ${entry.action}, ${entry.resourceType}, ${entry.resourceId},
                  ${entry.before === null ? null : tx.json(entry.before as never)},
                  ${entry.after === null ? null : tx.json(entry.after as never)},
                  ${createdAt}, ${previousHash}, ${hash}, ${entry.entryId ?? null})
          returning *`;
        return toAudit(row!);
      });
    },
    async listAudit(filter, limit, afterSequence) {
      const conditions = [sql`true`];
      if (filter.adminId) conditions.push(sql`admin_id = ${filter.adminId}`);
      if (filter.action) conditions.push(sql`action = ${filter.action}`);
      if (filter.resourceType) conditions.push(sql`resource_type = ${filter.resourceType}`);
      if (filter.resourceId) conditions.push(sql`resource_id = ${filter.resourceId}`);
      if (filter.from) conditions.push(sql`created_at >= ${filter.from}`);
      if (filter.to) conditions.push(sql`created_at < ${filter.to}`);
      if (afterSequence) conditions.push(sql`sequence < ${afterSequence}`);
      const where = conditions.reduce((a, b) => sql`${a} and ${b}`);
      const rows = await sql<
        AuditRow[]
      >`select * from audit_entries where ${where} order by sequence desc limit ${limit}`;
      return rows.map(toAudit);
    },
    async auditInOrder(afterSequence, limit) {
      const rows = await sql<AuditRow[]>`
        select * from audit_entries where sequence > ${afterSequence} order by sequence limit ${limit}`;
      return rows.map(toAudit);
    },
    async close() {},
  };
}
