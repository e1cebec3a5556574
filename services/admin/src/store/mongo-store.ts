/**
 * The MongoDB adapter of the admin store (official `mongodb` driver). Audit
 * appends are serialized with a single-document lock (`audit_head`), and the
 * unique index on `sequence` refuses a forked chain. Its contract tests run
 * wherever MONGODB_URL is set.
 */

import { AlreadyExistsError } from "@classconnect/platform";
import { type Collection, MongoClient, MongoServerError } from "mongodb";
import { GENESIS_HASH } from "./postgres-store.js";
import type { AdminRecord, AdminStore, AuditRecord, RuleRecord } from "./store.js";

type AdminDoc = Omit<AdminRecord, "id"> & { _id: string };
type RuleDoc = Omit<RuleRecord, "id"> & { _id: string };
type AuditDoc = AuditRecord & { _id: number };
type SessionDoc = { _id: string; adminId: string; createdAt: Date; expiresAt: Date; revokedAt: Date | null };

const fromAdmin = ({ _id, disabledAt, ...rest }: AdminDoc): AdminRecord => ({
  id: _id,
  ...rest,
  disabledAt: disabledAt ?? null,
});
const fromRule = ({ _id, ...rest }: RuleDoc): RuleRecord => ({ id: _id, ...rest });
const fromAudit = ({ _id, ...rest }: AuditDoc): AuditRecord => rest;

export async function createMongoAdminStore(url: string, dbName: string): Promise<AdminStore> {
  const client = new MongoClient(url);
  await client.connect();
  const db = client.db(dbName);
  const admins: Collection<AdminDoc> = db.collection("admins");
  const attempts = db.collection<{
    _id: string;
    failures: number;
    windowStart: Date;
    lockedUntil: Date | null;
  }>("login_attempts");
  const rules: Collection<RuleDoc> = db.collection("rules");
  const audit: Collection<AuditDoc> = db.collection("audit_entries");
  const head = db.collection<{ _id: string; locked: boolean; until: Date }>("audit_head");
  const sessions: Collection<SessionDoc> = db.collection("admin_sessions");
  await Promise.all([
    admins.createIndex({ email: 1 }, { unique: true }),
    rules.createIndex({ effectiveTime: -1, _id: -1 }),
    audit.createIndex({ hash: 1 }, { unique: true }),
    audit.createIndex({ adminId: 1, sequence: -1 }),
    audit.createIndex(
      { entryId: 1 },
      { unique: true, partialFilterExpression: { entryId: { $type: "string" } } },
    ),
    sessions.createIndex({ adminId: 1, expiresAt: 1 }),
    sessions.createIndex({ revokedAt: 1 }),
  ]);

  async function withAuditLock<T>(fn: () => Promise<T>): Promise<T> {
    for (;;) {
      const now = new Date();
      try {
        const got = await head.findOneAndUpdate(
          { _id: "head", $or: [{ locked: false }, { until: { $lt: now } }] },
          { $set: { locked: true, until: new Date(now.getTime() + 10_000) } },
          { upsert: true },
        );
        void got;
        break;
      } catch (err) {
        if (!(err instanceof MongoServerError && err.code === 11000)) throw err;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    try {
      return await fn();
    } finally {
      await head.updateOne({ _id: "head" }, { $set: { locked: false } });
    }
  }

  const store: AdminStore = {
    // No multi-document transactions on a standalone server (see AdminStore.atomically).
    atomically: (work) => work(store),
    async createAdmin(a) {
      const doc: AdminDoc = {
        _id: a.id,
        email: a.email,
        name: a.name,
        passwordHash: a.passwordHash,
        createdBy: a.createdBy,
        createdAt: new Date(),
        disabledAt: null,
      };
      try {
        await admins.insertOne(doc);
      } catch (err) {
        if (err instanceof MongoServerError && err.code === 11000) {
          throw new AlreadyExistsError("an administrator with this e-mail already exists", "EMAIL_TAKEN");
        }
        throw err;
      }
      return fromAdmin(doc);
    },
    async adminByEmail(email) {
      const doc = await admins.findOne({ email });
      return doc ? fromAdmin(doc) : undefined;
    },
    async adminById(id) {
      const doc = await admins.findOne({ _id: id });
      return doc ? fromAdmin(doc) : undefined;
    },
    async setAdminPassword(id, passwordHash) {
      return (await admins.updateOne({ _id: id }, { $set: { passwordHash } })).matchedCount > 0;
    },
    async createSession(s, now) {
      await sessions.deleteMany({ adminId: s.adminId, expiresAt: { $lt: now } });
      await sessions.insertOne({
        _id: s.id,
        adminId: s.adminId,
        createdAt: now,
        expiresAt: s.expiresAt,
        revokedAt: null,
      });
    },
    async sessionIsActive(adminId, sessionId, now) {
      return (
        (await sessions.countDocuments(
          { _id: sessionId, adminId, revokedAt: null, expiresAt: { $gt: now } },
          { limit: 1 },
        )) > 0
      );
    },
    async revokeSessions(adminId, which, now) {
      const id =
        which.only !== undefined
          ? which.only
          : which.except !== undefined
            ? { $ne: which.except }
            : undefined;
      const res = await sessions.updateMany(
        { adminId, revokedAt: null, expiresAt: { $gt: now }, ...(id !== undefined ? { _id: id } : {}) },
        { $set: { revokedAt: now } },
      );
      return res.modifiedCount;
    },
    async revokedSessions(since, now) {
      const docs = await sessions
        .find({ revokedAt: { $gte: since }, expiresAt: { $gt: now } })
        .sort({ revokedAt: 1, _id: 1 })
        .toArray();
      return docs.map((d) => ({ sessionId: d._id, revokedAt: d.revokedAt!, expiresAt: d.expiresAt }));
    },
    async setAdminDisabled(id, at) {
      const doc = await admins.findOneAndUpdate(
        { _id: id },
        { $set: { disabledAt: at } },
        { returnDocument: "after" },
      );
      return doc ? fromAdmin(doc) : undefined;
    },
    async listAdmins(limit, after) {
      const query = after
        ? {
            $or: [
              { createdAt: { $gt: new Date(String(after.key)) } },
              { createdAt: new Date(String(after.key)), _id: { $gt: after.id } },
            ],
          }
        : {};
      return (await admins.find(query).sort({ createdAt: 1, _id: 1 }).limit(limit).toArray()).map(fromAdmin);
    },

    async loginLockedUntil(email) {
      return (await attempts.findOne({ _id: email }))?.lockedUntil ?? null;
    },
    async recordLoginFailure(email, max, windowMs, lockMs) {
      const now = new Date();
      const current = await attempts.findOne({ _id: email });
      const fresh = !current || current.windowStart.getTime() < now.getTime() - windowMs;
      const failures = fresh ? 1 : current.failures + 1;
      const lockedUntil = failures >= max ? new Date(now.getTime() + lockMs) : (current?.lockedUntil ?? null);
      await attempts.updateOne(
        { _id: email },
        {
          $set: {
            failures: failures >= max ? 0 : failures,
            windowStart: fresh || failures >= max ? now : current!.windowStart,
            lockedUntil,
          },
        },
        { upsert: true },
      );
      return failures >= max ? lockedUntil : null;
    },
    async clearLoginFailures(email) {
      await attempts.deleteOne({ _id: email });
    },

    async createRule(id, createdBy, r) {
      const now = new Date();
      const doc: RuleDoc = { _id: id, ...r, createdBy, createdAt: now, updatedAt: now };
      await rules.insertOne(doc);
      return fromRule(doc);
    },
    async getRule(id) {
      const doc = await rules.findOne({ _id: id });
      return doc ? fromRule(doc) : undefined;
    },
    ruleForUpdate: (id) => store.getRule(id),
    async listRules(inForceAt, limit, after) {
      const query: Record<string, unknown> = {};
      if (inForceAt) query["effectiveTime"] = { $lte: inForceAt };
      if (after) {
        const t = new Date(String(after.key));
        query["$or"] = [{ effectiveTime: { $lt: t } }, { effectiveTime: t, _id: { $lt: after.id } }];
      }
      return (await rules.find(query).sort({ effectiveTime: -1, _id: -1 }).limit(limit).toArray()).map(
        fromRule,
      );
    },
    async updateRule(id, r) {
      const set = Object.fromEntries(
        Object.entries({ ...r, updatedAt: new Date() }).filter(([, v]) => v !== undefined),
      );
      const doc = await rules.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: "after" });
      return doc ? fromRule(doc) : undefined;
    },
    async deleteRule(id) {
      const doc = await rules.findOneAndDelete({ _id: id });
      return doc ? fromRule(doc) : undefined;
    },

    async appendAudit(entry, seal) {
      return withAuditLock(async () => {
        if (entry.entryId) {
          const appended = await audit.findOne({ entryId: entry.entryId });
          if (appended) return fromAudit(appended);
        }
        const last = await audit.find().sort({ _id: -1 }).limit(1).next();
        const sequence = (last?.sequence ?? 0) + 1;
        const previousHash = last?.hash ?? GENESIS_HASH;
        const createdAt = new Date();
        const record: AuditRecord = {
          ...entry,
          sequence,
          createdAt,
          previousHash,
          hash: seal(sequence, previousHash, createdAt),
        };
        await audit.insertOne({ _id: sequence, ...record });
        return record;
      });
    },
    async listAudit(filter, limit, afterSequence) {
      const query: Record<string, unknown> = {};
      if (filter.adminId) query["adminId"] = filter.adminId;
      if (filter.action) query["action"] = filter.action;
      if (filter.resourceType) query["resourceType"] = filter.resourceType;
      if (filter.resourceId) query["resourceId"] = filter.resourceId;
      if (filter.from || filter.to) {
        query["createdAt"] = {
          ...(filter.from ? { $gte: filter.from } : {}),
          ...(filter.to ? { $lt: filter.to } : {}),
        };
      }
      if (afterSequence) query["_id"] = { $lt: afterSequence };
      return (await audit.find(query).sort({ _id: -1 }).limit(limit).toArray()).map(fromAudit);
    },
    async auditInOrder(afterSequence, limit) {
      return (
        await audit
          .find({ _id: { $gt: afterSequence } })
          .sort({ _id: 1 })
          .limit(limit)
          .toArray()
      ).map(fromAudit);
    },
    async close() {
      await client.close();
    },
  };
  return store;
}
