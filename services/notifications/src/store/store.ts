/**
 * The notifications service's storage port. Two adapters implement it:
 * PostgreSQL (postgres-store.ts, the default) and MongoDB (mongo-store.ts);
 * one contract test suite (test/store-contract.ts) runs against both.
 */
import type { Cursor } from "@classconnect/platform";

/** Device tokens kept per user (phones, tablets, browsers); the least recently registered go first. */
export const DEVICES_PER_USER = 10;

/** Who an event is for, as the producer said. */
export interface Recipients {
  userIds?: string[];
  courseId?: string;
  allUsers?: boolean;
  /** A raw address, for system e-mails (PIN, password reset). */
  email?: string;
}

export interface EventRecord {
  id: string;
  type: string;
  recipients: Recipients;
  data: Record<string, string>;
  system: boolean;
  attempts: number;
}

export const Channel = { PUSH: 1, EMAIL: 2, IN_APP: 3 } as const;
/** Why a delivery to a user who deleted their account did not go out. */
export const ERASED_REASON = "the recipient deleted their account";
export const DeliveryStatus = {
  SENT: 1,
  SKIPPED_BY_PREFERENCE: 2,
  FAILED: 3,
  PENDING: 4,
  SENDING: 5,
  SKIPPED_UNVERIFIED: 6,
} as const;

/**
 * SENDING is the store's own state (a worker holds the delivery's lease); to everyone else
 * such a delivery is still PENDING. The statuses stored for a status the API asks about,
 * and the status the API shows for a stored one.
 */
export const statusesFor = (status: number): number[] =>
  status === DeliveryStatus.PENDING ? [DeliveryStatus.PENDING, DeliveryStatus.SENDING] : [status];
export const publicStatus = (status: number): number =>
  status === DeliveryStatus.SENDING ? DeliveryStatus.PENDING : status;

/** What a channel needs to send one message. */
export interface DeliveryPayload {
  subject?: string;
  title?: string;
  body?: string;
  text?: string;
  html?: string;
  link?: string;
}

export interface NewDelivery {
  id: string;
  eventId: string;
  eventType: string;
  channel: number;
  recipientId: string;
  address: string;
  status: number;
  reason?: string;
  payload?: DeliveryPayload;
}

export interface DeliveryRecord extends Required<NewDelivery> {
  attempts: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface InboxItem {
  id: string;
  userId: string;
  eventId: string;
  eventType: string;
  title: string;
  body: string;
  link: string;
  read: boolean;
  createdAt: Date;
}

export interface StoredPreferences {
  pushEnabled: boolean;
  emailEnabled: boolean;
  events: { eventType: string; push: boolean; email: boolean; inApp: boolean }[];
}

export interface Backlog {
  events: { count: number; oldest?: Date };
  deliveries: { channel: number; count: number; oldest: Date }[];
}

export interface DeliveryCount {
  channel: number;
  status: number;
  count: number;
}

export interface DeliveryFilter {
  channel?: number;
  /** A status as the API knows it: PENDING takes in those being sent (see `statusesFor`). */
  status?: number;
  eventType?: string;
  recipientId?: string;
  from?: Date;
  to?: Date;
}

export interface NotificationsStore {
  /** Records an event once; false when its id was seen before. */
  insertEvent(e: Omit<EventRecord, "attempts">): Promise<boolean>;
  /** Leases up to `limit` events due for expansion. */
  claimEvents(limit: number, leaseMs: number): Promise<EventRecord[]>;
  completeEvent(id: string): Promise<void>;
  retryEvent(id: string, delayMs: number, error: string): Promise<void>;

  /** Adds deliveries, ignoring any that already exist (same event, channel, recipient, address). */
  insertDeliveries(rows: NewDelivery[]): Promise<void>;
  /** Marks up to `limit` due pending deliveries SENDING (leased) and returns them. */
  claimDeliveries(limit: number, leaseMs: number): Promise<DeliveryRecord[]>;
  /**
   * SENDING deliveries whose lease ran out (their worker died mid-send) become
   * FAILED with `reason`; returns how many.
   */
  failAbandoned(reason: string): Promise<number>;
  /**
   * Milliseconds until the dispatcher next has work (0: now): the earliest
   * unexpanded event, pending delivery or SENDING lease to run out; undefined
   * when there is none.
   */
  nextDueInMs(): Promise<number | undefined>;
  /** Records the outcome of an attempt: sent, failed, or pending again after `retryInMs`. */
  finishDeliveries(
    ids: string[],
    outcome: { status: number; reason?: string; retryInMs?: number },
  ): Promise<void>;
  listDeliveries(filter: DeliveryFilter, limit: number, after?: Cursor): Promise<DeliveryRecord[]>;
  /**
   * The work not done yet: events not expanded into deliveries, and deliveries waiting or being
   * sent, by channel; each with the time its oldest was accepted.
   */
  backlog(): Promise<Backlog>;
  /**
   * Deletes inbox items made before `before`, and events expanded before it whose deliveries
   * are all done (sent, skipped or failed), with those deliveries. Returns how many inbox items
   * and events went.
   */
  pruneBefore(before: Date): Promise<number>;
  /** How many deliveries made in [from, to) have each channel and status, by channel then status. */
  deliveryCounts(from: Date, to: Date): Promise<DeliveryCount[]>;

  /** Adds inbox items, ignoring duplicates (same event and user). */
  insertInbox(items: Omit<InboxItem, "read" | "createdAt">[]): Promise<void>;
  listInbox(
    userId: string,
    opts: { unreadFirst: boolean; unreadOnly: boolean },
    limit: number,
    after?: Cursor,
  ): Promise<InboxItem[]>;
  countUnread(userId: string): Promise<number>;
  markRead(userId: string, ids: string[] | "all", upTo?: Date): Promise<number>;

  getPreferences(userIds: string[]): Promise<Map<string, StoredPreferences>>;
  putPreferences(userId: string, prefs: StoredPreferences): Promise<void>;
  /**
   * Changes a user's preferences atomically: `change` gets what is stored (`initial` when
   * nothing is) and returns what to store, with no other change between the two.
   */
  changePreferences(
    userId: string,
    initial: StoredPreferences,
    change: (current: StoredPreferences) => StoredPreferences,
  ): Promise<StoredPreferences>;

  /**
   * Registers (or re-registers) a device token, keeping the user's `DEVICES_PER_USER` most
   * recently registered: every event is pushed to each, so they must not pile up.
   */
  upsertDevice(userId: string, token: string, platform: number): Promise<void>;
  removeDevice(userId: string, token: string): Promise<boolean>;
  devicesOf(userIds: string[]): Promise<{ userId: string; token: string }[]>;
  removeTokens(tokens: string[]): Promise<void>;

  /**
   * Erases what is kept of a user who deleted their account: their devices, preferences
   * and inbox; the addresses in their delivery log (the log keeps what was sent, not to
   * where); deliveries still to do fail instead of reaching an address they gave up.
   */
  forgetUser(userId: string): Promise<void>;

  close(): Promise<void>;
}
