/**
 * The contract every NotificationsStore adapter keeps. Run against PostgreSQL
 * always (store-postgres.test.ts) and MongoDB when MONGODB_URL is set
 * (store-mongo.test.ts).
 */
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  Channel,
  DEVICES_PER_USER,
  DeliveryStatus,
  ERASED_REASON,
  type NewDelivery,
  type NotificationsStore,
} from "../src/store/store.js";

/** A new event (not expanded) with one delivery of each [channel, status], to fresh recipients. */
async function eventWithDeliveries(
  store: NotificationsStore,
  deliveries: [number, number][],
): Promise<string> {
  const eventId = randomUUID();
  await store.insertEvent({
    id: eventId,
    type: "ENROLLED",
    recipients: { userIds: [] },
    data: {},
    system: false,
  });
  await store.insertDeliveries(
    deliveries.map(([channel, status]) => ({
      id: randomUUID(),
      eventId,
      eventType: "ENROLLED",
      channel,
      recipientId: randomUUID(),
      address: "x",
      status,
    })),
  );
  return eventId;
}

export function storeContract(
  name: string,
  open: () => Promise<{ store: NotificationsStore; close(): Promise<void> }>,
) {
  const test = suite<{ store: NotificationsStore; close(): Promise<void> }>(
    `notifications store contract: ${name}`,
  );
  test.before(async (ctx) => {
    const opened = await open();
    ctx.store = opened.store;
    ctx.close = opened.close;
  });
  test.after(async (ctx) => {
    await ctx.close();
  });

  // First: it needs the store empty.
  test("nextDueInMs: the earliest due event, pending delivery or sending lease; none when idle", async ({
    store,
  }) => {
    const near = (ms: number | undefined, expected: number) =>
      assert.ok(ms !== undefined && ms <= expected + 200 && ms >= expected - 2_000, `${ms} ≈ ${expected}`);
    assert.is(await store.nextDueInMs(), undefined, "nothing to do");
    const id = randomUUID();
    await store.insertEvent({ id, type: "ENROLLED", recipients: { userIds: [] }, data: {}, system: false });
    near(await store.nextDueInMs(), 0);
    await store.claimEvents(10, 60_000);
    near(await store.nextDueInMs(), 60_000);
    await store.retryEvent(id, 5_000, "boom");
    near(await store.nextDueInMs(), 5_000);
    await store.completeEvent(id);
    assert.is(await store.nextDueInMs(), undefined, "expanded events are done");
    await store.insertDeliveries([
      {
        id: randomUUID(),
        eventId: id,
        eventType: "ENROLLED",
        channel: Channel.EMAIL,
        recipientId: randomUUID(),
        address: "due@example.com",
        status: DeliveryStatus.PENDING,
      },
    ]);
    near(await store.nextDueInMs(), 0);
    const [sending] = await store.claimDeliveries(10, 30_000);
    near(await store.nextDueInMs(), 30_000);
    await store.finishDeliveries([sending!.id], { status: DeliveryStatus.PENDING, retryInMs: 8_000 });
    near(await store.nextDueInMs(), 8_000);
    await store.finishDeliveries([sending!.id], { status: DeliveryStatus.SENT });
    assert.is(await store.nextDueInMs(), undefined, "sent deliveries are done");
  });

  test("events are recorded once and leased to one worker at a time", async ({ store }) => {
    const id = randomUUID();
    const event = {
      id,
      type: "ENROLLED",
      recipients: { userIds: [randomUUID()] },
      data: { course_title: "X" },
      system: false,
    };
    assert.is(await store.insertEvent(event), true);
    assert.is(await store.insertEvent(event), false, "the same id twice is not accepted again");
    const first = await store.claimEvents(100, 60_000);
    assert.ok(first.some((e) => e.id === id));
    const claimed = first.find((e) => e.id === id)!;
    assert.equal([claimed.type, claimed.data, claimed.attempts], ["ENROLLED", { course_title: "X" }, 1]);
    assert.not.ok(
      (await store.claimEvents(100, 60_000)).some((e) => e.id === id),
      "leased",
    );
    await store.retryEvent(id, 0, "boom");
    const again = (await store.claimEvents(100, 60_000)).find((e) => e.id === id);
    assert.is(again?.attempts, 2);
    await store.completeEvent(id);
    await store.retryEvent(id, 0, "late");
    assert.not.ok(
      (await store.claimEvents(100, 60_000)).some((e) => e.id === id),
      "completed events are done",
    );
  });

  test("deliveries: duplicates ignored, leased, finished, listed newest first with filters", async ({
    store,
  }) => {
    const eventId = randomUUID();
    const user = randomUUID();
    await store.insertEvent({
      id: eventId,
      type: "ENROLLED",
      recipients: { userIds: [user] },
      data: {},
      system: false,
    });
    const make = (channel: number, address: string, status: number): NewDelivery => ({
      id: randomUUID(),
      eventId,
      eventType: "ENROLLED",
      channel,
      recipientId: user,
      address,
      status,
      payload: { subject: "s", text: "t", html: "h" },
    });
    const email = make(Channel.EMAIL, "a@example.com", DeliveryStatus.PENDING);
    const inApp = make(Channel.IN_APP, "inbox", DeliveryStatus.SENT);
    await store.insertDeliveries([email, inApp]);
    await store.insertDeliveries([{ ...email, id: randomUUID() }]);
    const listed = await store.listDeliveries({ recipientId: user }, 10);
    assert.is(listed.length, 2, "the same event, channel, recipient and address is stored once");
    const claimed = (await store.claimDeliveries(1000, 60_000)).filter((d) => d.recipientId === user);
    assert.equal(
      claimed.map((d) => [d.id, d.attempts, d.payload.subject]),
      [[email.id, 1, "s"]],
    );
    // Leased for sending, it is still pending to whoever asks for pending ones.
    assert.equal(
      (await store.listDeliveries({ recipientId: user, status: DeliveryStatus.PENDING }, 10)).map(
        (d) => d.id,
      ),
      [email.id],
    );
    await store.finishDeliveries([email.id], {
      status: DeliveryStatus.PENDING,
      reason: "retrying",
      retryInMs: 0,
    });
    const retried = (await store.claimDeliveries(1000, 60_000)).filter((d) => d.recipientId === user);
    assert.equal(
      retried.map((d) => d.attempts),
      [2],
    );
    await store.finishDeliveries([email.id], { status: DeliveryStatus.FAILED, reason: "brevo answered 400" });
    assert.equal(
      (await store.claimDeliveries(1000, 60_000)).filter((d) => d.recipientId === user),
      [],
    );
    const failed = await store.listDeliveries({ recipientId: user, status: DeliveryStatus.FAILED }, 10);
    assert.equal(
      failed.map((d) => [d.channel, d.reason, d.attempts]),
      [[Channel.EMAIL, "brevo answered 400", 2]],
    );
    const byChannel = await store.listDeliveries({ recipientId: user, channel: Channel.IN_APP }, 10);
    assert.equal(
      byChannel.map((d) => d.id),
      [inApp.id],
    );
    const page1 = await store.listDeliveries({ recipientId: user }, 1);
    const page2 = await store.listDeliveries({ recipientId: user }, 1, {
      key: page1[0]!.createdAt.toISOString(),
      id: page1[0]!.id,
    });
    assert.is(new Set([...page1, ...page2].map((d) => d.id)).size, 2);
  });

  test("backlog: events not expanded and deliveries not done, by channel, with the oldest", async ({
    store,
  }) => {
    const before = await store.backlog();
    const pendingOf = (b: typeof before, channel: number) =>
      b.deliveries.find((d) => d.channel === channel)?.count ?? 0;
    const eventId = await eventWithDeliveries(store, [
      [Channel.EMAIL, DeliveryStatus.PENDING],
      [Channel.EMAIL, DeliveryStatus.PENDING],
      [Channel.PUSH, DeliveryStatus.PENDING],
      [Channel.PUSH, DeliveryStatus.SENT],
      [Channel.IN_APP, DeliveryStatus.FAILED],
    ]);
    const after = await store.backlog();
    assert.is(after.events.count, before.events.count + 1, "the new event is not expanded yet");
    assert.equal(
      [Channel.EMAIL, Channel.PUSH, Channel.IN_APP].map((c) => pendingOf(after, c) - pendingOf(before, c)),
      [2, 1, 0],
    );
    assert.ok(after.events.oldest && after.events.oldest.getTime() <= Date.now());
    assert.ok(after.deliveries.every((d) => d.oldest.getTime() <= Date.now()));
    await store.completeEvent(eventId);
    assert.is((await store.backlog()).events.count, before.events.count, "an expanded event is done");
  });

  test("delivery counts: by channel and status, for the deliveries made in a period", async ({ store }) => {
    await new Promise((r) => setTimeout(r, 20)); // the tests before made theirs earlier
    const from = new Date();
    await eventWithDeliveries(store, [
      [Channel.EMAIL, DeliveryStatus.SENT],
      [Channel.EMAIL, DeliveryStatus.SENT],
      [Channel.EMAIL, DeliveryStatus.SKIPPED_BY_PREFERENCE],
      [Channel.PUSH, DeliveryStatus.SENT],
      [Channel.IN_APP, DeliveryStatus.SENT],
      [Channel.IN_APP, DeliveryStatus.SENT],
      [Channel.IN_APP, DeliveryStatus.SENT],
    ]);
    const to = new Date(Date.now() + 1000);
    assert.equal(await store.deliveryCounts(from, to), [
      { channel: Channel.PUSH, status: DeliveryStatus.SENT, count: 1 },
      { channel: Channel.EMAIL, status: DeliveryStatus.SENT, count: 2 },
      { channel: Channel.EMAIL, status: DeliveryStatus.SKIPPED_BY_PREFERENCE, count: 1 },
      { channel: Channel.IN_APP, status: DeliveryStatus.SENT, count: 3 },
    ]);
    assert.equal(await store.deliveryCounts(to, new Date(to.getTime() + 3_600_000)), [], "none later");
  });

  test("inbox: once per event and user, newest or unread first, read marks", async ({ store }) => {
    const user = randomUUID();
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const [i, id] of ids.entries()) {
      await store.insertInbox([
        {
          id,
          userId: user,
          eventId: randomUUID(),
          eventType: "ENROLLED",
          title: `t${i}`,
          body: "b",
          link: "",
        },
      ]);
      await new Promise((r) => setTimeout(r, 5));
    }
    const eventId = randomUUID();
    await store.insertInbox([
      { id: randomUUID(), userId: user, eventId, eventType: "ENROLLED", title: "dup", body: "b", link: "" },
    ]);
    await store.insertInbox([
      { id: randomUUID(), userId: user, eventId, eventType: "ENROLLED", title: "dup", body: "b", link: "" },
    ]);
    assert.is(await store.countUnread(user), 4);
    assert.is(await store.markRead(user, [ids[2]!]), 1);
    const unreadFirst = await store.listInbox(user, { unreadFirst: true, unreadOnly: false }, 10);
    assert.equal(
      unreadFirst.map((n) => n.title),
      ["dup", "t1", "t0", "t2"],
    );
    const p1 = await store.listInbox(user, { unreadFirst: true, unreadOnly: false }, 2);
    const last = p1[1]!;
    const p2 = await store.listInbox(user, { unreadFirst: true, unreadOnly: false }, 10, {
      key: `${last.read ? 1 : 0}|${last.createdAt.toISOString()}`,
      id: last.id,
    });
    assert.equal(
      [...p1, ...p2].map((n) => n.title),
      ["dup", "t1", "t0", "t2"],
    );
    assert.equal((await store.listInbox(user, { unreadFirst: false, unreadOnly: true }, 10)).length, 3);
    assert.is(await store.markRead(user, "all"), 3);
    assert.is(await store.countUnread(user), 0);
    assert.is(await store.markRead(randomUUID(), "all"), 0);
  });

  test("preferences and devices", async ({ store }) => {
    const user = randomUUID();
    assert.is((await store.getPreferences([user])).get(user), undefined);
    const prefs = {
      pushEnabled: false,
      emailEnabled: true,
      events: [{ eventType: "ENROLLED", push: true, email: false, inApp: true }],
    };
    await store.putPreferences(user, prefs);
    await store.putPreferences(user, { ...prefs, pushEnabled: true });
    assert.equal((await store.getPreferences([user])).get(user), { ...prefs, pushEnabled: true });
    const token = `tok-${randomUUID()}`;
    await store.upsertDevice(user, token, 1);
    await store.upsertDevice(user, token, 2);
    assert.equal(await store.devicesOf([user]), [{ userId: user, token }]);
    assert.is(await store.removeDevice(randomUUID(), token), false, "only the owner removes a device");
    await store.removeTokens([token]);
    assert.equal(await store.devicesOf([user]), []);
  });

  test("preferences: changes made at once each land on the one before", async ({ store }) => {
    const user = randomUUID();
    const types = ["ENROLLED", "GRADE_PUBLISHED", "TASK_PUBLISHED", "DEADLINE_REMINDER", "FEEDBACK"];
    const initial = {
      pushEnabled: true,
      emailEnabled: true,
      events: types.map((eventType) => ({ eventType, push: true, email: true, inApp: true })),
    };
    // Each call turns off e-mail for one type, reading what is stored: none may undo another.
    await Promise.all(
      types.map((eventType) =>
        store.changePreferences(user, initial, (current) => ({
          ...current,
          events: current.events.map((e) => (e.eventType === eventType ? { ...e, email: false } : e)),
        })),
      ),
    );
    const stored = (await store.getPreferences([user])).get(user)!;
    assert.equal(
      stored.events.map((e) => [e.eventType, e.email]),
      types.map((t) => [t, false]),
    );
    const next = await store.changePreferences(user, initial, (current) => ({
      ...current,
      pushEnabled: false,
    }));
    assert.equal(next, { ...stored, pushEnabled: false });
    assert.equal((await store.getPreferences([user])).get(user), next, "what it returns is what it stored");
    await store.putPreferences(user, initial);
    assert.equal((await store.getPreferences([user])).get(user), initial, "a full write replaces it");
  });

  test("devices: a user keeps the most recently registered ones; re-registering one keeps it", async ({
    store,
  }) => {
    const [user, other] = [randomUUID(), randomUUID()];
    const otherToken = `tok-${randomUUID()}`;
    await store.upsertDevice(other, otherToken, 1);
    const tokens = Array.from({ length: DEVICES_PER_USER + 2 }, (_, i) => `tok-${i}-${randomUUID()}`);
    // The first one is registered again after the third: it stays, the second and third go.
    for (const token of [...tokens.slice(0, 3), tokens[0]!, ...tokens.slice(3)]) {
      await store.upsertDevice(user, token, 1);
      // Registered at distinct moments, as devices are (a store's clock may count milliseconds).
      await new Promise((r) => setTimeout(r, 2));
    }
    const kept = (await store.devicesOf([user])).map((d) => d.token).sort();
    assert.equal(kept, [tokens[0]!, ...tokens.slice(3)].sort());
    assert.equal(
      await store.devicesOf([other]),
      [{ userId: other, token: otherToken }],
      "others' devices stay",
    );
  });

  test("forgetUser: a deleted account's devices, preferences, inbox and addresses go; others' stay", async ({
    store,
  }) => {
    const [gone, kept] = [randomUUID(), randomUUID()];
    const eventId = randomUUID();
    await store.insertEvent({
      id: eventId,
      type: "ENROLLED",
      recipients: { userIds: [gone, kept] },
      data: {},
      system: false,
    });
    const delivery = (
      recipientId: string,
      channel: number,
      address: string,
      status: number,
    ): NewDelivery => ({
      id: randomUUID(),
      eventId,
      eventType: "ENROLLED",
      channel,
      recipientId,
      address,
      status,
      ...(status === DeliveryStatus.PENDING ? { payload: { subject: "s", text: "t", html: "h" } } : {}),
    });
    await store.insertDeliveries([
      delivery(gone, Channel.EMAIL, "gone@example.com", DeliveryStatus.PENDING),
      delivery(gone, Channel.PUSH, "device-1", DeliveryStatus.SENT),
      delivery(gone, Channel.PUSH, "device-2", DeliveryStatus.PENDING),
      delivery(kept, Channel.EMAIL, "kept@example.com", DeliveryStatus.PENDING),
    ]);
    for (const user of [gone, kept]) {
      await store.insertInbox([
        { id: randomUUID(), userId: user, eventId, eventType: "ENROLLED", title: "t", body: "b", link: "" },
      ]);
      await store.putPreferences(user, { pushEnabled: true, emailEnabled: true, events: [] });
      await store.upsertDevice(user, `tok-${randomUUID()}`, 1);
    }

    await store.forgetUser(gone);
    await store.forgetUser(gone); // again, as a retried event would: harmless

    assert.equal(await store.devicesOf([gone]), []);
    assert.is((await store.getPreferences([gone])).get(gone), undefined);
    assert.equal(await store.listInbox(gone, { unreadFirst: false, unreadOnly: false }, 10), []);
    const log = await store.listDeliveries({ recipientId: gone }, 10);
    assert.is(log.length, 3, "the log keeps what was sent");
    assert.ok(log.every((d) => !d.address.includes("example.com") && !d.address.startsWith("device")));
    assert.equal(
      log.map((d) => [d.channel, d.status]).sort(),
      [
        [Channel.EMAIL, DeliveryStatus.FAILED],
        [Channel.PUSH, DeliveryStatus.FAILED],
        [Channel.PUSH, DeliveryStatus.SENT],
      ].sort(),
    );
    assert.ok(log.filter((d) => d.status === DeliveryStatus.FAILED).every((d) => d.reason === ERASED_REASON));
    assert.ok(
      log.every((d) => Object.keys(d.payload).length === 0),
      "no message text is kept either",
    );
    // Nothing of the other recipient changed.
    assert.is((await store.devicesOf([kept])).length, 1);
    assert.ok((await store.getPreferences([kept])).get(kept));
    assert.is((await store.listInbox(kept, { unreadFirst: false, unreadOnly: false }, 10)).length, 1);
    const other = await store.listDeliveries({ recipientId: kept }, 10);
    assert.equal(
      other.map((d) => [d.address, d.status]),
      [["kept@example.com", DeliveryStatus.PENDING]],
    );
  });

  // Last: it deletes whatever every test above left before its cutoff.
  test("pruning: inbox items and finished events (with their log) made before the cutoff go; the rest stays", async ({
    store,
  }) => {
    const [oldReader, newReader] = [randomUUID(), randomUUID()];
    const done = await eventWithDeliveries(store, [
      [Channel.EMAIL, DeliveryStatus.SENT],
      [Channel.PUSH, DeliveryStatus.FAILED],
    ]);
    await store.completeEvent(done);
    const busy = await eventWithDeliveries(store, [[Channel.EMAIL, DeliveryStatus.PENDING]]);
    await store.completeEvent(busy);
    const unexpanded = await eventWithDeliveries(store, []);
    const item = (userId: string, eventId: string) => ({
      id: randomUUID(),
      userId,
      eventId,
      eventType: "ENROLLED",
      title: "t",
      body: "b",
      link: "",
    });
    await store.insertInbox([item(oldReader, done)]);
    await new Promise((r) => setTimeout(r, 20));
    const cutoff = new Date();
    await new Promise((r) => setTimeout(r, 20));
    await store.insertInbox([item(newReader, done)]);

    assert.ok((await store.pruneBefore(cutoff)) >= 2, "an inbox item and an event at least");
    assert.equal(await store.listInbox(oldReader, { unreadFirst: false, unreadOnly: false }, 10), []);
    assert.is((await store.listInbox(newReader, { unreadFirst: false, unreadOnly: false }, 10)).length, 1);
    // The finished event's deliveries went with it; the one still pending stays, as does the
    // event not yet expanded.
    const left = await store.listDeliveries({}, 100);
    assert.ok(left.every((d) => d.eventId !== done));
    assert.ok(left.some((d) => d.eventId === busy));
    // Whether the store still knows an event's id (a known id is not accepted again).
    const known = async (id: string) =>
      !(await store.insertEvent({
        id,
        type: "ENROLLED",
        recipients: { userIds: [] },
        data: {},
        system: false,
      }));
    assert.equal(
      [await known(busy), await known(unexpanded), await known(done)],
      [true, true, false],
      "the busy and the unexpanded event stay; the finished one went",
    );
  });

  test.run();
}
