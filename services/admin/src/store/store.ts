/**
 * The admin service's storage port. Two adapters implement it: PostgreSQL
 * (postgres-store.ts, the default) and MongoDB (mongo-store.ts); one contract
 * suite (test/store-contract.ts) runs against both.
 */
import type { Cursor, LoginAttemptsPort, RevokedSessionEntry, Sql } from "@classconnect/platform";

export interface AdminRecord {
  id: string;
  email: string;
  name: string;
  passwordHash: string;
  createdBy: string;
  createdAt: Date;
  /** Set while another admin has disabled the account. */
  disabledAt: Date | null;
}

/** A sign-in: its access token carries the id as `sid`. */
export interface AdminSession {
  id: string;
  adminId: string;
  expiresAt: Date;
}

export interface RuleFields {
  title: string;
  description: string;
  effectiveTime: Date;
  conditions: string[];
}

export interface RuleRecord extends RuleFields {
  id: string;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

export type JsonObject = Record<string, unknown>;

export interface AuditInput {
  /**
   * For an entry another service recorded (its outbox event's id): an append with an id
   * already in the log returns that entry instead of adding another.
   */
  entryId?: string;
  adminId: string;
  action: string;
  resourceType: string;
  resourceId: string;
  before: JsonObject | null;
  after: JsonObject | null;
}

export interface AuditRecord extends AuditInput {
  sequence: number;
  createdAt: Date;
  previousHash: string;
  hash: string;
}

export interface AuditFilter {
  adminId?: string;
  action?: string;
  resourceType?: string;
  resourceId?: string;
  from?: Date;
  to?: Date;
}

export interface AdminStore extends LoginAttemptsPort {
  /**
   * Runs `work` as one unit. On PostgreSQL: in one transaction, `store` bound to it and
   * `tx` for the outbox events it records, so that a change, its audit entry and its event
   * land together or not at all. MongoDB without a replica set has no multi-document
   * transactions: there `work` gets this store and no `tx`, and a failure part-way keeps
   * what was written before it.
   */
  atomically<T>(work: (store: AdminStore, tx?: Sql) => Promise<T>): Promise<T>;
  /** Throws AlreadyExistsError for a taken e-mail. */
  createAdmin(a: Omit<AdminRecord, "createdAt" | "disabledAt">): Promise<AdminRecord>;
  adminByEmail(email: string): Promise<AdminRecord | undefined>;
  adminById(id: string): Promise<AdminRecord | undefined>;
  /** False when there is no such admin. */
  setAdminPassword(id: string, passwordHash: string): Promise<boolean>;
  /** Disables the admin at `at`, or enables it (null); the record after, undefined when there is none. */
  setAdminDisabled(id: string, at: Date | null): Promise<AdminRecord | undefined>;
  listAdmins(limit: number, after?: Cursor): Promise<AdminRecord[]>;

  /** Records a sign-in; forgets the admin's sessions that expired before `now`. */
  createSession(session: AdminSession, now: Date): Promise<void>;
  /** Whether the session is the admin's, not revoked, and not expired at `now`. */
  sessionIsActive(adminId: string, sessionId: string, now: Date): Promise<boolean>;
  /**
   * Revokes the admin's live sessions at `now`: only `only` when given, else all but
   * `except`. Returns how many it revoked.
   */
  revokeSessions(adminId: string, which: { only?: string; except?: string }, now: Date): Promise<number>;
  /** Sessions revoked at or after `since` whose tokens have not expired at `now`, oldest revocation first. */
  revokedSessions(since: Date, now: Date): Promise<RevokedSessionEntry[]>;

  createRule(id: string, createdBy: string, r: RuleFields): Promise<RuleRecord>;
  getRule(id: string): Promise<RuleRecord | undefined>;
  /**
   * A rule, locked on PostgreSQL until the transaction ends (within `atomically`), so that
   * what a change records as `before` is what it changed; on MongoDB, as `getRule`.
   */
  ruleForUpdate(id: string): Promise<RuleRecord | undefined>;
  listRules(inForceAt: Date | undefined, limit: number, after?: Cursor): Promise<RuleRecord[]>;
  updateRule(id: string, r: Partial<RuleFields>): Promise<RuleRecord | undefined>;
  /** The rule as it was deleted; undefined when there was none. */
  deleteRule(id: string): Promise<RuleRecord | undefined>;

  /**
   * Appends an entry; `seal` computes its hash from the previous one. Appends
   * are serialized so the chain never forks. An entry whose `entryId` is already in the
   * log is not appended again: that entry is returned.
   */
  appendAudit(
    entry: AuditInput,
    seal: (sequence: number, previousHash: string, createdAt: Date) => string,
  ): Promise<AuditRecord>;
  listAudit(filter: AuditFilter, limit: number, afterSequence?: number): Promise<AuditRecord[]>;
  /** The whole log in order, a page at a time, for verification. */
  auditInOrder(afterSequence: number, limit: number): Promise<AuditRecord[]>;

  close(): Promise<void>;
}
