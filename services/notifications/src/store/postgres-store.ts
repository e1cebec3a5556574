import { type Cursor, deleteInBatches, inTransaction, type Sql } from "@classconnect/platform";
import {
  Channel,
  DEVICES_PER_USER,
  type DeliveryFilter,
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

interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  channel: number;
  recipient_id: string;
  address: string;
  status: number;
  reason: string;
  attempts: number;
  payload: NewDelivery["payload"];
  created_at: Date;
  updated_at: Date;
}

const toDelivery = (r: DeliveryRow): DeliveryRecord => ({
  id: r.id,
  eventId: r.event_id,
  eventType: r.event_type,
  channel: r.channel,
  recipientId: r.recipient_id,
  address: r.address,
  status: r.status,
  reason: r.reason,
  attempts: r.attempts,
  payload: r.payload ?? {},
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

interface InboxRow {
  id: string;
  user_id: string;
  event_id: string;
  event_type: string;
  title: string;
  body: string;
  link: string;
  read: boolean;
  created_at: Date;
}

const toInbox = (r: InboxRow): InboxItem => ({
  id: r.id,
  userId: r.user_id,
  eventId: r.event_id,
  eventType: r.event_type,
  title: r.title,
  body: r.body,
  link: r.link,
  read: r.read,
  createdAt: r.created_at,
});

const CHUNK = 1000;

export function createPostgresNotificationsStore(sql: Sql): NotificationsStore {
  return {
    async insertEvent(e) {
      const rows = await sql`
        insert into events (id, event_type, recipients, data, system)
        values (${e.id}, ${e.type}, ${sql.json(e.recipients as never)}, ${sql.json(e.data)}, ${e.system})
        on conflict (id) do nothing returning 1`;
      return rows.length > 0;
    },

    async claimEvents(limit, leaseMs) {
      const rows = await sql<
        {
          id: string;
          event_type: string;
          recipients: EventRecord["recipients"];
          data: Record<string, string>;
          system: boolean;
          attempts: number;
        }[]
      >`
        update events set next_attempt_at = now() + ${leaseMs} * interval '1 millisecond', attempts = attempts + 1
        where id in (
          select id from events where expanded_at is null and next_attempt_at <= now()
          order by next_attempt_at limit ${limit} for update skip locked)
        returning id, event_type, recipients, data, system, attempts`;
      return rows.map((r) => ({
        id: r.id,
        type: r.event_type,
        recipients: r.recipients,
        data: r.data,
        system: r.system,
        attempts: r.attempts,
      }));
    },

    async completeEvent(id) {
      await sql`update events set expanded_at = now(), last_error = null where id = ${id}`;
    },

    async retryEvent(id, delayMs, error) {
      await sql`update events set next_attempt_at = now() + ${delayMs} * interval '1 millisecond', last_error = ${error}
                where id = ${id}`;
    },

    async insertDeliveries(rows) {
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK).map((d) => ({
          id: d.id,
          event_id: d.eventId,
          event_type: d.eventType,
          channel: d.channel,
          recipient_id: d.recipientId,
          address: d.address,
          status: d.status,
          reason: d.reason ?? "",
          payload: sql.json((d.payload ?? {}) as never),
        }));
        await sql`insert into deliveries ${sql(chunk)} on conflict (event_id, channel, recipient_id, address) do nothing`;
      }
    },

    async claimDeliveries(limit, leaseMs) {
      const rows = await sql<DeliveryRow[]>`
        update deliveries set next_attempt_at = now() + ${leaseMs} * interval '1 millisecond',
                              attempts = attempts + 1, updated_at = now(), status = 5
        where id in (
          select id from deliveries where status = 4 and next_attempt_at <= now()
          order by next_attempt_at limit ${limit} for update skip locked)
        returning *`;
      return rows.map(toDelivery);
    },

    async failAbandoned(reason) {
      const rows = await sql`
        update deliveries set status = 3, reason = ${reason}, updated_at = now()
        where status = 5 and next_attempt_at <= now() returning 1`;
      return rows.length;
    },

    async nextDueInMs() {
      // Each minimum reads the first entry of a partial index (events_pending, deliveries_pending, deliveries_sending).
      const [row] = await sql<{ ms: number | null }[]>`
        select (extract(epoch from least(
          (select min(next_attempt_at) from events where expanded_at is null),
          (select min(next_attempt_at) from deliveries where status = 4),
          (select min(next_attempt_at) from deliveries where status = 5)
        ) - now()) * 1000)::float8 as ms`;
      return row?.ms == null ? undefined : Math.max(0, row.ms);
    },

    async finishDeliveries(ids, outcome) {
      if (ids.length === 0) return;
      await sql`
        update deliveries set status = ${outcome.status}, reason = ${outcome.reason ?? ""}, updated_at = now(),
          next_attempt_at = now() + ${outcome.retryInMs ?? 0} * interval '1 millisecond'
        where id = any(${ids}::uuid[])`;
    },

    async listDeliveries(filter: DeliveryFilter, limit, after?: Cursor) {
      const conditions = [sql`true`];
      if (filter.channel) conditions.push(sql`channel = ${filter.channel}`);
      if (filter.status) conditions.push(sql`status = any(${statusesFor(filter.status)}::int[])`);
      if (filter.eventType) conditions.push(sql`event_type = ${filter.eventType}`);
      if (filter.recipientId) conditions.push(sql`recipient_id = ${filter.recipientId}`);
      if (filter.from) conditions.push(sql`created_at >= ${filter.from}`);
      if (filter.to) conditions.push(sql`created_at < ${filter.to}`);
      if (after) conditions.push(sql`(created_at, id) < (${after.key}::timestamptz, ${after.id}::uuid)`);
      const where = conditions.reduce((a, b) => sql`${a} and ${b}`);
      const rows = await sql<DeliveryRow[]>`
        select * from deliveries where ${where} order by created_at desc, id desc limit ${limit}`;
      return rows.map(toDelivery);
    },

    async backlog() {
      const [events] = await sql<{ count: number; oldest: Date | null }[]>`
        select count(*)::int as count, min(created_at) as oldest from events where expanded_at is null`;
      const deliveries = await sql<{ channel: number; count: number; oldest: Date }[]>`
        select channel, count(*)::int as count, min(created_at) as oldest from deliveries
        where status in (${DeliveryStatus.PENDING}, ${DeliveryStatus.SENDING})
        group by channel order by channel`;
      return {
        events: { count: events!.count, ...(events!.oldest ? { oldest: events!.oldest } : {}) },
        deliveries: deliveries.map((d) => ({ channel: d.channel, count: d.count, oldest: d.oldest })),
      };
    },

    async pruneBefore(before) {
      const inboxItems = await deleteInBatches(
        (batch) => sql`
          delete from inbox where id in (select id from inbox where created_at < ${before} limit ${batch})`,
      );
      // Deliveries go with their event (on delete cascade).
      const events = await deleteInBatches(
        (batch) => sql`
          delete from events where id in (
            select e.id from events e
            where e.expanded_at < ${before}
              and not exists (select 1 from deliveries d where d.event_id = e.id
                              and d.status in (${DeliveryStatus.PENDING}, ${DeliveryStatus.SENDING}))
            limit ${batch})`,
      );
      return inboxItems + events;
    },

    async deliveryCounts(from, to) {
      const rows = await sql<{ channel: number; status: number; count: string }[]>`
        select channel, status, count(*) from deliveries
        where created_at >= ${from} and created_at < ${to}
        group by channel, status order by channel, status`;
      return rows.map((r) => ({ channel: r.channel, status: r.status, count: Number(r.count) }));
    },

    async insertInbox(items) {
      for (let i = 0; i < items.length; i += CHUNK) {
        const chunk = items.slice(i, i + CHUNK).map((n) => ({
          id: n.id,
          user_id: n.userId,
          event_id: n.eventId,
          event_type: n.eventType,
          title: n.title,
          body: n.body,
          link: n.link,
        }));
        await sql`insert into inbox ${sql(chunk)} on conflict (event_id, user_id) do nothing`;
      }
    },

    async listInbox(userId, opts, limit, after) {
      const conditions = [sql`user_id = ${userId}`];
      if (opts.unreadOnly) conditions.push(sql`not read`);
      if (after) {
        const [readPart, time] = String(after.key).split("|") as [string, string];
        const read = readPart === "1";
        conditions.push(
          opts.unreadFirst
            ? sql`(read::int > ${read ? 1 : 0} or (read = ${read} and (created_at, id) < (${time}::timestamptz, ${after.id}::uuid)))`
            : sql`(created_at, id) < (${time}::timestamptz, ${after.id}::uuid)`,
        );
      }
      const where = conditions.reduce((a, b) => sql`${a} and ${b}`);
      const rows = await sql<InboxRow[]>`
        select * from inbox where ${where}
        order by ${opts.unreadFirst ? sql`read,` : sql``} created_at desc, id desc limit ${limit}`;
      return rows.map(toInbox);
    },

    async countUnread(userId) {
      const [row] = await sql<
        { n: number }[]
      >`select count(*)::int as n from inbox where user_id = ${userId} and not read`;
      return row!.n;
    },

    async markRead(userId, ids, upTo) {
      const rows =
        ids === "all"
          ? await sql`update inbox set read = true where user_id = ${userId} and not read
                      ${upTo ? sql`and created_at <= ${upTo}` : sql``} returning 1`
          : await sql`update inbox set read = true where user_id = ${userId} and not read
                      and id = any(${ids}::uuid[]) returning 1`;
      return rows.length;
    },

    async getPreferences(userIds) {
      if (userIds.length === 0) return new Map();
      const rows = await sql<{ user_id: string; preferences: StoredPreferences }[]>`
        select user_id, preferences from preferences where user_id = any(${userIds}::uuid[])`;
      return new Map(rows.map((r) => [r.user_id, r.preferences]));
    },

    async putPreferences(userId, prefs) {
      await sql`
        insert into preferences (user_id, preferences) values (${userId}, ${sql.json(prefs as never)})
        on conflict (user_id) do update set preferences = excluded.preferences, updated_at = now()`;
    },

    changePreferences(userId, initial, change) {
      return inTransaction(sql, async (tx) => {
        await tx`
          insert into preferences (user_id, preferences) values (${userId}, ${tx.json(initial as never)})
          on conflict (user_id) do nothing`;
        const [row] = await tx<{ preferences: StoredPreferences }[]>`
          select preferences from preferences where user_id = ${userId} for update`;
        const next = change(row!.preferences);
        await tx`
          update preferences set preferences = ${tx.json(next as never)}, updated_at = now()
          where user_id = ${userId}`;
        return next;
      });
    },

    async upsertDevice(userId, token, platform) {
      await sql`
        insert into devices (token, user_id, platform, updated_at)
        values (${token}, ${userId}, ${platform}, clock_timestamp())
        on conflict (token) do update set user_id = excluded.user_id, platform = excluded.platform,
          updated_at = excluded.updated_at`;
      await sql`
        delete from devices where token in (
          select token from devices where user_id = ${userId}
          order by updated_at desc, token offset ${DEVICES_PER_USER})`;
    },

    async removeDevice(userId, token) {
      const rows = await sql`delete from devices where token = ${token} and user_id = ${userId} returning 1`;
      return rows.length > 0;
    },

    async devicesOf(userIds) {
      if (userIds.length === 0) return [];
      const rows = await sql<{ user_id: string; token: string }[]>`
        select user_id, token from devices where user_id = any(${userIds}::uuid[])`;
      return rows.map((r) => ({ userId: r.user_id, token: r.token }));
    },

    async removeTokens(tokens) {
      if (tokens.length > 0) await sql`delete from devices where token = any(${tokens})`;
    },

    async forgetUser(userId) {
      await inTransaction(sql, async (tx) => {
        await tx`delete from devices where user_id = ${userId}`;
        await tx`delete from preferences where user_id = ${userId}`;
        await tx`delete from inbox where user_id = ${userId}`;
        await tx`
          update deliveries set status = ${DeliveryStatus.FAILED}, reason = ${ERASED_REASON}, updated_at = now()
          where recipient_id = ${userId} and status in (${DeliveryStatus.PENDING}, ${DeliveryStatus.SENDING})`;
        // A push delivery per device: each erased address stays unique within its event.
        await tx`
          update deliveries set payload = '{}',
            address = case when channel = ${Channel.PUSH} then 'erased-' || id else '' end
          where recipient_id = ${userId}`;
      });
    },

    async close() {},
  };
}
