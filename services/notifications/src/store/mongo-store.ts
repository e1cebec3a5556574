/**
 * The MongoDB adapter of the notifications store (official `mongodb` driver).
 * Indexes are created at start-up; uniqueness (event ids, deliveries, inbox
 * items) is enforced by unique indexes exactly as the PostgreSQL constraints do.
 * Its contract tests run wherever MONGODB_URL is set (the CI workflow provides one).
 */

import type { Cursor } from "@classconnect/platform";
import { type Collection, type Filter, MongoClient, MongoServerError } from "mongodb";
import {
  Channel,
  DEVICES_PER_USER,
  type DeliveryRecord,
  DeliveryStatus,
  ERASED_REASON,
  type EventRecord,
  type InboxItem,
  type NewDelivery,
  type NotificationsStore,
  type StoredPreferences,
  statusesFor,
} from "./store.js";

interface EventDoc {
  _id: string;
  type: string;
  recipients: EventRecord["recipients"];
  data: Record<string, string>;
  system: boolean;
  createdAt: Date;
  expandedAt: Date | null;
  nextAttemptAt: Date;
  attempts: number;
  lastError?: string;
}

/** Documents keep the store's records with the id as `_id`. */
type DeliveryDoc = Omit<DeliveryRecord, "id" | "payload"> & {
  _id: string;
  nextAttemptAt: Date;
  payload: NewDelivery["payload"];
};

type InboxDoc = Omit<InboxItem, "id"> & { _id: string };

const isDuplicate = (err: unknown) =>
  err instanceof MongoServerError &&
  (err.code === 11000 || (err as { writeErrors?: unknown[] }).writeErrors !== undefined);

const toDelivery = (d: DeliveryDoc): DeliveryRecord => ({
  id: d._id,
  eventId: d.eventId,
  eventType: d.eventType,
  channel: d.channel,
  recipientId: d.recipientId,
  address: d.address,
  status: d.status,
  reason: d.reason,
  attempts: d.attempts,
  payload: d.payload ?? {},
  createdAt: d.createdAt,
  updatedAt: d.updatedAt,
});

const toInbox = (d: InboxDoc): InboxItem => ({
  id: d._id,
  userId: d.userId,
  eventId: d.eventId,
  eventType: d.eventType,
  title: d.title,
  body: d.body,
  link: d.link,
  read: d.read,
  createdAt: d.createdAt,
});

/** Inserts all, skipping documents that collide with a unique index. */
async function insertIgnoringDuplicates<T extends { _id: string }>(collection: Collection<T>, docs: T[]) {
  if (docs.length === 0) return;
  try {
    await collection.insertMany(docs as never[], { ordered: false });
  } catch (err) {
    const writeErrors = (err as { writeErrors?: { code?: number }[] }).writeErrors ?? [];
    if (!isDuplicate(err) || writeErrors.some((w) => w.code !== 11000)) throw err;
  }
}

export async function createMongoNotificationsStore(
  url: string,
  dbName: string,
): Promise<NotificationsStore> {
  const client = new MongoClient(url);
  await client.connect();
  const db = client.db(dbName);
  const events = db.collection<EventDoc>("events");
  const deliveries = db.collection<DeliveryDoc>("deliveries");
  const inbox = db.collection<InboxDoc>("inbox");
  const preferences = db.collection<{ _id: string; preferences: StoredPreferences; rev?: number }>(
    "preferences",
  );
  const devices = db.collection<{ _id: string; userId: string; platform: number; updatedAt?: Date }>(
    "devices",
  );
  await Promise.all([
    events.createIndex({ expandedAt: 1, nextAttemptAt: 1 }),
    deliveries.createIndex({ eventId: 1, channel: 1, recipientId: 1, address: 1 }, { unique: true }),
    deliveries.createIndex({ status: 1, nextAttemptAt: 1 }),
    deliveries.createIndex({ createdAt: -1, _id: -1 }),
    inbox.createIndex({ eventId: 1, userId: 1 }, { unique: true }),
    inbox.createIndex({ userId: 1, read: 1, createdAt: -1, _id: -1 }),
    inbox.createIndex({ createdAt: 1 }),
    devices.createIndex({ userId: 1, updatedAt: -1 }),
  ]);

  async function claim<T extends { nextAttemptAt: Date; attempts: number }>(
    collection: Collection<T>,
    filter: Filter<T>,
    limit: number,
    leaseMs: number,
  ): Promise<T[]> {
    const claimed: T[] = [];
    for (let i = 0; i < limit; i++) {
      const now = new Date();
      const doc = await collection.findOneAndUpdate(
        { ...filter, nextAttemptAt: { $lte: now } } as Filter<T>,
        { $set: { nextAttemptAt: new Date(now.getTime() + leaseMs) }, $inc: { attempts: 1 } } as never,
        { sort: { nextAttemptAt: 1 }, returnDocument: "after" },
      );
      if (!doc) break;
      claimed.push(doc as T);
    }
    return claimed;
  }

  const before = (after: Cursor | undefined) => {
    if (!after) return {};
    const t = new Date(String(after.key).split("|").pop()!);
    return { $or: [{ createdAt: { $lt: t } }, { createdAt: t, _id: { $lt: after.id } }] };
  };

  return {
    async insertEvent(e) {
      try {
        await events.insertOne({
          _id: e.id,
          type: e.type,
          recipients: e.recipients,
          data: e.data,
          system: e.system,
          createdAt: new Date(),
          expandedAt: null,
          nextAttemptAt: new Date(),
          attempts: 0,
        });
        return true;
      } catch (err) {
        if (err instanceof MongoServerError && err.code === 11000) return false;
        throw err;
      }
    },

    async claimEvents(limit, leaseMs) {
      const docs = await claim(events, { expandedAt: null }, limit, leaseMs);
      return docs.map((d) => ({
        id: d._id,
        type: d.type,
        recipients: d.recipients,
        data: d.data,
        system: d.system,
        attempts: d.attempts,
      }));
    },

    async completeEvent(id) {
      await events.updateOne({ _id: id }, { $set: { expandedAt: new Date() }, $unset: { lastError: "" } });
    },

    async retryEvent(id, delayMs, error) {
      await events.updateOne(
        { _id: id },
        { $set: { nextAttemptAt: new Date(Date.now() + delayMs), lastError: error } },
      );
    },

    async insertDeliveries(rows) {
      const now = new Date();
      await insertIgnoringDuplicates(
        deliveries,
        rows.map((d) => ({
          _id: d.id,
          eventId: d.eventId,
          eventType: d.eventType,
          channel: d.channel,
          recipientId: d.recipientId,
          address: d.address,
          status: d.status,
          reason: d.reason ?? "",
          attempts: 0,
          nextAttemptAt: now,
          payload: d.payload ?? {},
          createdAt: now,
          updatedAt: now,
        })),
      );
    },

    async claimDeliveries(limit, leaseMs) {
      const claimed = await claim(deliveries, { status: 4 }, limit, leaseMs);
      if (claimed.length > 0)
        await deliveries.updateMany({ _id: { $in: claimed.map((d) => d._id) } }, { $set: { status: 5 } });
      return claimed.map((d) => toDelivery({ ...d, status: 5 }));
    },

    async failAbandoned(reason) {
      const res = await deliveries.updateMany(
        { status: 5, nextAttemptAt: { $lte: new Date() } },
        { $set: { status: 3, reason, updatedAt: new Date() } },
      );
      return res.modifiedCount;
    },

    async nextDueInMs() {
      const earliest = async <T extends { nextAttemptAt: Date }>(
        collection: Collection<T>,
        filter: Filter<T>,
      ) =>
        (
          await collection.findOne(filter, {
            sort: { nextAttemptAt: 1 },
            projection: { nextAttemptAt: 1 },
          })
        )?.nextAttemptAt;
      const due = [
        await earliest(events, { expandedAt: null }),
        await earliest(deliveries, { status: 4 }),
        await earliest(deliveries, { status: 5 }),
      ].filter((d): d is Date => d instanceof Date);
      if (due.length === 0) return undefined;
      return Math.max(0, Math.min(...due.map((d) => d.getTime())) - Date.now());
    },

    async finishDeliveries(ids, outcome) {
      if (ids.length === 0) return;
      await deliveries.updateMany(
        { _id: { $in: ids } },
        {
          $set: {
            status: outcome.status,
            reason: outcome.reason ?? "",
            updatedAt: new Date(),
            nextAttemptAt: new Date(Date.now() + (outcome.retryInMs ?? 0)),
          },
        },
      );
    },

    async listDeliveries(filter, limit, after) {
      const query: Filter<DeliveryDoc> = { ...before(after) };
      if (filter.channel) query.channel = filter.channel;
      if (filter.status) query.status = { $in: statusesFor(filter.status) };
      if (filter.eventType) query.eventType = filter.eventType;
      if (filter.recipientId) query.recipientId = filter.recipientId;
      if (filter.from || filter.to) {
        query.createdAt = {
          ...(filter.from ? { $gte: filter.from } : {}),
          ...(filter.to ? { $lt: filter.to } : {}),
        };
      }
      const docs = await deliveries.find(query).sort({ createdAt: -1, _id: -1 }).limit(limit).toArray();
      return docs.map(toDelivery);
    },

    async backlog() {
      const [pendingEvents, oldestEvent, groups] = await Promise.all([
        events.countDocuments({ expandedAt: null }),
        events.find({ expandedAt: null }).sort({ createdAt: 1 }).limit(1).next(),
        deliveries
          .aggregate<{ _id: number; count: number; oldest: Date }>([
            { $match: { status: { $in: [DeliveryStatus.PENDING, DeliveryStatus.SENDING] } } },
            { $group: { _id: "$channel", count: { $sum: 1 }, oldest: { $min: "$createdAt" } } },
            { $sort: { _id: 1 } },
          ])
          .toArray(),
      ]);
      return {
        events: { count: pendingEvents, ...(oldestEvent ? { oldest: oldestEvent.createdAt } : {}) },
        deliveries: groups.map((g) => ({ channel: g._id, count: g.count, oldest: g.oldest })),
      };
    },

    async pruneBefore(before) {
      let total = (await inbox.deleteMany({ createdAt: { $lt: before } })).deletedCount;
      // Events a page at a time in id order; those with deliveries not done yet stay.
      let after = "";
      for (;;) {
        const page = await events
          .find({ expandedAt: { $lt: before }, _id: { $gt: after } }, { projection: { _id: 1 } })
          .sort({ _id: 1 })
          .limit(1000)
          .toArray();
        if (page.length === 0) break;
        after = page[page.length - 1]!._id;
        const ids = page.map((e) => e._id);
        const busy = new Set(
          await deliveries.distinct("eventId", {
            eventId: { $in: ids },
            status: { $in: [DeliveryStatus.PENDING, DeliveryStatus.SENDING] },
          }),
        );
        const done = ids.filter((id) => !busy.has(id));
        await deliveries.deleteMany({ eventId: { $in: done } });
        total += (await events.deleteMany({ _id: { $in: done } })).deletedCount;
      }
      return total;
    },

    async deliveryCounts(from, to) {
      const groups = await deliveries
        .aggregate<{ _id: { channel: number; status: number }; count: number }>([
          { $match: { createdAt: { $gte: from, $lt: to } } },
          { $group: { _id: { channel: "$channel", status: "$status" }, count: { $sum: 1 } } },
          { $sort: { "_id.channel": 1, "_id.status": 1 } },
        ])
        .toArray();
      return groups.map((g) => ({ channel: g._id.channel, status: g._id.status, count: g.count }));
    },

    async insertInbox(items) {
      const now = new Date();
      await insertIgnoringDuplicates(
        inbox,
        items.map((n) => ({
          _id: n.id,
          userId: n.userId,
          eventId: n.eventId,
          eventType: n.eventType,
          title: n.title,
          body: n.body,
          link: n.link,
          read: false,
          createdAt: now,
        })),
      );
    },

    async listInbox(userId, opts, limit, after) {
      const query: Filter<InboxDoc> = { userId };
      if (opts.unreadOnly) query.read = false;
      if (after) {
        const [readPart, time] = String(after.key).split("|") as [string, string];
        const read = readPart === "1";
        const t = new Date(time);
        const older = { $or: [{ createdAt: { $lt: t } }, { createdAt: t, _id: { $lt: after.id } }] };
        Object.assign(
          query,
          opts.unreadFirst ? { $or: [...(read ? [] : [{ read: true }]), { read, ...older }] } : older,
        );
      }
      const sort = opts.unreadFirst ? { read: 1, createdAt: -1, _id: -1 } : { createdAt: -1, _id: -1 };
      const docs = await inbox
        .find(query)
        .sort(sort as never)
        .limit(limit)
        .toArray();
      return docs.map(toInbox);
    },

    countUnread: (userId) => inbox.countDocuments({ userId, read: false }),

    async markRead(userId, ids, upTo) {
      const filter: Filter<InboxDoc> =
        ids === "all"
          ? { userId, read: false, ...(upTo ? { createdAt: { $lte: upTo } } : {}) }
          : { userId, read: false, _id: { $in: ids } };
      return (await inbox.updateMany(filter, { $set: { read: true } })).modifiedCount;
    },

    async getPreferences(userIds) {
      const docs = await preferences.find({ _id: { $in: userIds } }).toArray();
      return new Map(docs.map((d) => [d._id, d.preferences]));
    },

    async putPreferences(userId, prefs) {
      // `rev` counts writes, so that a change in changePreferences sees it and tries again.
      await preferences.updateOne(
        { _id: userId },
        { $set: { preferences: prefs }, $inc: { rev: 1 } },
        { upsert: true },
      );
    },

    async changePreferences(userId, initial, change) {
      // Compare and set on `rev`: a write between the read and this one makes it read again.
      for (;;) {
        const doc = await preferences.findOne({ _id: userId });
        const next = change(doc?.preferences ?? initial);
        try {
          const written = doc
            ? await preferences.updateOne(
                { _id: userId, rev: doc.rev ?? { $exists: false } },
                { $set: { preferences: next }, $inc: { rev: 1 } },
              )
            : await preferences.insertOne({ _id: userId, preferences: next, rev: 1 });
          if ("insertedId" in written || written.modifiedCount === 1) return next;
        } catch (err) {
          if ((err as { code?: number }).code !== 11000) throw err; // another first write: read it
        }
      }
    },

    async upsertDevice(userId, token, platform) {
      await devices.updateOne(
        { _id: token },
        { $set: { userId, platform, updatedAt: new Date() } },
        { upsert: true },
      );
      const older = await devices
        .find({ userId }, { projection: { _id: 1 } })
        .sort({ updatedAt: -1, _id: 1 })
        .skip(DEVICES_PER_USER)
        .toArray();
      if (older.length > 0) await devices.deleteMany({ _id: { $in: older.map((d) => d._id) } });
    },

    async removeDevice(userId, token) {
      return (await devices.deleteOne({ _id: token, userId })).deletedCount > 0;
    },

    async devicesOf(userIds) {
      const docs = await devices.find({ userId: { $in: userIds } }).toArray();
      return docs.map((d) => ({ userId: d.userId, token: d._id }));
    },

    async removeTokens(tokens) {
      if (tokens.length > 0) await devices.deleteMany({ _id: { $in: tokens } });
    },

    async forgetUser(userId) {
      await Promise.all([
        devices.deleteMany({ userId }),
        preferences.deleteOne({ _id: userId }),
        inbox.deleteMany({ userId }),
      ]);
      await deliveries.updateMany(
        { recipientId: userId, status: { $in: [DeliveryStatus.PENDING, DeliveryStatus.SENDING] } },
        { $set: { status: DeliveryStatus.FAILED, reason: ERASED_REASON, updatedAt: new Date() } },
      );
      // A push delivery per device: each erased address stays unique within its event.
      await deliveries.updateMany({ recipientId: userId }, [
        {
          $set: {
            payload: {},
            address: { $cond: [{ $eq: ["$channel", Channel.PUSH] }, { $concat: ["erased-", "$_id"] }, ""] },
          },
        },
      ]);
    },

    async close() {
      await client.close();
    },
  };
}
