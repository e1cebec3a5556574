/** The notifications service's three APIs: the user's (preferences, devices, inbox), dispatch (internal) and the delivery log (admins). */
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { DeliveryLogService } from "@classconnect/gen/classconnect/notifications/v1/delivery_log_service_pb.js";
import type { DispatchService } from "@classconnect/gen/classconnect/notifications/v1/dispatch_service_pb.js";
import { EventType } from "@classconnect/gen/classconnect/notifications/v1/notification_pb.js";
import type { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import {
  InvalidArgumentError,
  isTimeKey,
  maskPaths,
  pageSize,
  pageTokens,
  periodDates,
  requireUser,
} from "@classconnect/platform";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Dispatcher } from "./domain/dispatcher.js";
import { defaultPreferences, eventChoice, USER_EVENT_TYPES } from "./domain/preferences.js";
import type { Directory } from "./ports/directory.js";
import {
  type DeliveryRecord,
  type NotificationsStore,
  publicStatus,
  type StoredPreferences,
} from "./store/store.js";

/** The inbox's sort key: the last item's read mark (0 or 1, for unread-first pages) and time. */
const inboxPages = pageTokens(
  "notifications.inbox",
  (k) => typeof k === "string" && /^[01]\|/.test(k) && isTimeKey(k.slice(2)),
);
const deliveryPages = pageTokens("notifications.deliveries", "time");

const typeName = (t: EventType) => EventType[t];
const typeValue = (name: string) => EventType[name as keyof typeof EventType] ?? EventType.UNSPECIFIED;

function toPreferencesMsg(p: StoredPreferences) {
  return {
    pushEnabled: p.pushEnabled,
    emailEnabled: p.emailEnabled,
    // Every event a user can tune, as delivery reads it: on when the stored preferences
    // predate the type; types no longer tunable (account notices) are left out.
    events: USER_EVENT_TYPES.map((eventType) => {
      const e = eventChoice(p, eventType);
      return { eventType: typeValue(eventType), push: e.push, email: e.email, inApp: e.inApp };
    }),
  };
}

const toDeliveryMsg = (d: DeliveryRecord) => ({
  id: d.id,
  eventId: d.eventId,
  eventType: typeValue(d.eventType),
  channel: d.channel,
  recipientId: d.recipientId,
  // Device tokens are secrets of a kind: show only their end.
  recipientAddress: d.channel === 1 ? `…${d.address.slice(-8)}` : d.address,
  status: publicStatus(d.status),
  reason: d.reason,
  attempts: d.attempts,
  createTime: timestampFromDate(d.createdAt),
  updateTime: timestampFromDate(d.updatedAt),
});

export function createNotificationService(
  store: NotificationsStore,
  directory: Directory,
): ServiceImpl<typeof NotificationService> {
  async function preferencesOf(userId: string): Promise<StoredPreferences> {
    const stored = (await store.getPreferences([userId])).get(userId);
    if (stored) return stored;
    const [contact] = await directory.contacts([userId]);
    return defaultPreferences(contact?.optIn ?? false);
  }
  return {
    async getPreferences(_req, ctx) {
      return { preferences: toPreferencesMsg(await preferencesOf(requireUser(ctx).userId)) };
    },
    async updatePreferences(req, ctx) {
      const p = req.preferences!;
      const names = p.events.map((e) => typeName(e.eventType));
      const violations = p.events.flatMap((e, i) =>
        USER_EVENT_TYPES.includes(typeName(e.eventType) as never)
          ? names.indexOf(typeName(e.eventType)) !== i
            ? [{ field: `preferences.events[${i}].event_type`, description: "each event type once" }]
            : []
          : [
              {
                field: `preferences.events[${i}].event_type`,
                description: "not a user-configurable event type",
              },
            ],
      );
      if (violations.length > 0) throw new InvalidArgumentError(violations);
      const userId = requireUser(ctx).userId;
      const paths =
        req.updateMask && maskPaths(req.updateMask.paths, ["push_enabled", "email_enabled", "events"]);
      const sets = (path: string) => !paths || paths.includes(path);
      const listed = new Map(sets("events") ? p.events.map((e) => [typeName(e.eventType), e]) : []);
      /** What the request makes of `current` (nothing stored: a full replacement). */
      const applied = (current?: StoredPreferences): StoredPreferences => ({
        pushEnabled: current && !sets("push_enabled") ? current.pushEnabled : p.pushEnabled,
        emailEnabled: current && !sets("email_enabled") ? current.emailEnabled : p.emailEnabled,
        events: USER_EVENT_TYPES.map((eventType) => {
          const e = listed.get(eventType) ?? current?.events.find((c) => c.eventType === eventType);
          return { eventType, push: e?.push ?? true, email: e?.email ?? true, inApp: e?.inApp ?? true };
        }),
      });
      if (!paths) {
        const prefs = applied();
        await store.putPreferences(userId, prefs);
        return { preferences: toPreferencesMsg(prefs) };
      }
      const prefs = await store.changePreferences(userId, await preferencesOf(userId), applied);
      return { preferences: toPreferencesMsg(prefs) };
    },
    async registerDevice(req, ctx) {
      await store.upsertDevice(requireUser(ctx).userId, req.token, req.platform);
      return {};
    },
    async unregisterDevice(req, ctx) {
      await store.removeDevice(requireUser(ctx).userId, req.token);
      return {};
    },
    async listNotifications(req, ctx) {
      const userId = requireUser(ctx).userId;
      const limit = pageSize(req.pageSize);
      const opts = { unreadFirst: req.unreadFirst, unreadOnly: req.unreadOnly };
      const rows = await store.listInbox(userId, opts, limit + 1, inboxPages.read(req));
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      return {
        notifications: items.map((n) => ({
          id: n.id,
          eventType: typeValue(n.eventType),
          title: n.title,
          body: n.body,
          link: n.link,
          read: n.read,
          createTime: timestampFromDate(n.createdAt),
        })),
        unreadCount: await store.countUnread(userId),
        nextPageToken:
          rows.length > limit && last
            ? inboxPages.write(
                { key: `${last.read ? 1 : 0}|${last.createdAt.toISOString()}`, id: last.id },
                req,
              )
            : "",
      };
    },
    async markNotificationsRead(req, ctx) {
      // The contract refuses neither or both of `all` and `notification_ids`.
      const marked = await store.markRead(
        requireUser(ctx).userId,
        req.all ? "all" : req.notificationIds,
        req.upToTime ? timestampDate(req.upToTime) : undefined,
      );
      return { markedCount: marked };
    },
  };
}

export function createDispatchService(
  store: NotificationsStore,
  dispatcher: Dispatcher,
): ServiceImpl<typeof DispatchService> {
  return {
    async publishEvent(req) {
      const r = req.recipients!;
      if (r.userIds.length === 0 && !r.courseId && !r.allUsers) {
        throw new InvalidArgumentError([
          { field: "recipients", description: "name users, a course or all users" },
        ]);
      }
      if (req.eventType === EventType.ACCOUNT_DELETED) {
        // Nothing to deliver: what is kept of those users is erased (again, on a retry: harmless).
        if (r.courseId || r.allUsers) {
          throw new InvalidArgumentError([
            { field: "recipients", description: "an account deletion names its users only" },
          ]);
        }
        for (const userId of r.userIds) await store.forgetUser(userId);
        return { accepted: true };
      }
      const accepted = await store.insertEvent({
        id: req.eventId,
        type: typeName(req.eventType),
        recipients: {
          ...(r.userIds.length ? { userIds: r.userIds } : {}),
          ...(r.courseId ? { courseId: r.courseId } : {}),
          ...(r.allUsers ? { allUsers: true } : {}),
        },
        data: req.data,
        system: false,
      });
      if (accepted) dispatcher.wake();
      return { accepted };
    },
    async sendSystemEmail(req) {
      const accepted = await store.insertEvent({
        id: req.messageId,
        type: typeName(req.eventType),
        recipients: { email: req.to.toLowerCase() },
        data: req.data,
        system: true,
      });
      if (accepted) dispatcher.wake();
      return { accepted };
    },
  };
}

export function createDeliveryLogService(store: NotificationsStore): ServiceImpl<typeof DeliveryLogService> {
  return {
    async listDeliveries(req) {
      const limit = pageSize(req.pageSize);
      const rows = await store.listDeliveries(
        {
          ...(req.channel ? { channel: req.channel } : {}),
          ...(req.status ? { status: req.status } : {}),
          ...(req.eventType ? { eventType: typeName(req.eventType) } : {}),
          ...(req.recipientId ? { recipientId: req.recipientId } : {}),
          ...(req.fromTime ? { from: timestampDate(req.fromTime) } : {}),
          ...(req.toTime ? { to: timestampDate(req.toTime) } : {}),
        },
        limit + 1,
        deliveryPages.read(req),
      );
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      return {
        deliveries: items.map(toDeliveryMsg),
        nextPageToken:
          rows.length > limit && last
            ? deliveryPages.write({ key: last.createdAt.toISOString(), id: last.id }, req)
            : "",
      };
    },
    async getDeliveryFigures(req) {
      const { from, to } = periodDates(req.period);
      // Deliveries being sent count as pending, as the API shows them.
      const merged = new Map<string, { channel: number; status: number; count: number }>();
      for (const c of await store.deliveryCounts(from, to)) {
        const status = publicStatus(c.status);
        const key = `${c.channel}/${status}`;
        const seen = merged.get(key);
        if (seen) seen.count += c.count;
        else merged.set(key, { channel: c.channel, status, count: c.count });
      }
      return { counts: [...merged.values()].map((c) => ({ ...c, count: BigInt(c.count) })) };
    },
  };
}
