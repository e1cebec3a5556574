/**
 * The contract every AdminStore adapter keeps: PostgreSQL always
 * (store-postgres.test.ts), MongoDB when MONGODB_URL is set (store-mongo.test.ts).
 */
import { randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createAudit } from "../src/domain/audit.js";
import type { AdminStore } from "../src/store/store.js";

export function adminStoreContract(
  name: string,
  open: () => Promise<{ store: AdminStore; close(): Promise<void> }>,
) {
  const test = suite<{ store: AdminStore; close(): Promise<void> }>(`admin store contract: ${name}`);
  test.before(async (ctx) => {
    Object.assign(ctx, await open());
  });
  test.after(async (ctx) => {
    await ctx.close();
  });

  test("admins are unique by e-mail, found by id, listed in creation order; passwords replaced", async ({
    store,
  }) => {
    const email = `a-${randomUUID()}@x.test`;
    const a = await store.createAdmin({
      id: randomUUID(),
      email,
      name: "A",
      passwordHash: "h",
      createdBy: "",
    });
    try {
      await store.createAdmin({ id: randomUUID(), email, name: "B", passwordHash: "h", createdBy: "" });
      assert.unreachable("duplicate e-mail");
    } catch (err) {
      assert.is((err as { reason?: string }).reason, "EMAIL_TAKEN");
    }
    assert.is((await store.adminByEmail(email))?.id, a.id);
    assert.is((await store.adminById(a.id))?.email, email);
    assert.is(await store.adminById(randomUUID()), undefined);
    assert.is(await store.setAdminPassword(a.id, "h2"), true);
    assert.is((await store.adminById(a.id))?.passwordHash, "h2");
    assert.is(await store.setAdminPassword(randomUUID(), "h3"), false);
    assert.is(a.disabledAt, null);
    const off = new Date(Math.floor(Date.now() / 1000) * 1000);
    assert.is((await store.setAdminDisabled(a.id, off))?.disabledAt?.getTime(), off.getTime());
    assert.is((await store.adminByEmail(email))?.disabledAt?.getTime(), off.getTime());
    assert.is((await store.setAdminDisabled(a.id, null))?.disabledAt, null);
    assert.is((await store.adminById(a.id))?.disabledAt, null);
    assert.is(await store.setAdminDisabled(randomUUID(), off), undefined);
    const b = await store.createAdmin({
      id: randomUUID(),
      email: `b-${email}`,
      name: "B",
      passwordHash: "h",
      createdBy: a.id,
    });
    const all = await store.listAdmins(100);
    assert.ok(all.findIndex((x) => x.id === a.id) < all.findIndex((x) => x.id === b.id));
  });

  test("sessions: active until revoked or expired; revoked ones listed until they expire; expired ones forgotten", async ({
    store,
  }) => {
    const admin = await store.createAdmin({
      id: randomUUID(),
      email: `s-${randomUUID()}@x.test`,
      name: "S",
      passwordHash: "h",
      createdBy: "",
    });
    const t0 = new Date(Date.now() - 1000);
    const at = (ms: number) => new Date(t0.getTime() + ms);
    const HOUR = 3_600_000;
    const id = (): string => randomUUID();
    const [laptop, phone, tablet, old] = [id(), id(), id(), id()];
    await store.createSession({ id: old, adminId: admin.id, expiresAt: at(10) }, t0);
    for (const id of [laptop, phone, tablet]) {
      await store.createSession({ id, adminId: admin.id, expiresAt: at(HOUR) }, t0);
    }
    assert.ok(await store.sessionIsActive(admin.id, laptop, t0));
    assert.not.ok(await store.sessionIsActive(randomUUID(), laptop, t0), "another admin's");
    assert.not.ok(await store.sessionIsActive(admin.id, randomUUID(), t0), "unknown");
    assert.not.ok(await store.sessionIsActive(admin.id, old, at(10)), "expired");

    assert.is(await store.revokeSessions(admin.id, { only: laptop }, at(100)), 1);
    assert.is(await store.revokeSessions(admin.id, { only: laptop }, at(200)), 0, "once");
    assert.not.ok(await store.sessionIsActive(admin.id, laptop, at(100)));
    assert.ok(await store.sessionIsActive(admin.id, phone, at(100)));
    // All but the caller's; the expired one is not revoked (it needs no listing).
    assert.is(await store.revokeSessions(admin.id, { except: phone }, at(300)), 1);
    assert.not.ok(await store.sessionIsActive(admin.id, tablet, at(300)));
    assert.ok(await store.sessionIsActive(admin.id, phone, at(300)));

    const mine = (list: { sessionId: string }[]) =>
      list.map((s) => s.sessionId).filter((id) => [laptop, phone, tablet, old].includes(id));
    const listed = await store.revokedSessions(t0, at(400));
    assert.equal(mine(listed), [laptop, tablet], "oldest revocation first");
    const first = listed.find((s) => s.sessionId === laptop)!;
    assert.equal(
      [first.revokedAt.getTime(), first.expiresAt.getTime()],
      [at(100).getTime(), at(HOUR).getTime()],
    );
    assert.equal(mine(await store.revokedSessions(at(300), at(400))), [tablet], "since");
    assert.equal(mine(await store.revokedSessions(t0, at(HOUR))), [], "expired tokens need no listing");

    // A new sign-in forgets the admin's expired sessions.
    await store.createSession({ id: randomUUID(), adminId: admin.id, expiresAt: at(3 * HOUR) }, at(2 * HOUR));
    assert.not.ok(await store.sessionIsActive(admin.id, phone, at(HOUR - 1)), "forgotten");
  });

  test("login failures lock after the maximum, and clear", async ({ store }) => {
    const email = `l-${randomUUID()}@x.test`;
    for (let i = 0; i < 2; i++) assert.is(await store.recordLoginFailure(email, 3, 60_000, 60_000), null);
    const locked = await store.recordLoginFailure(email, 3, 60_000, 60_000);
    assert.ok(locked && locked.getTime() > Date.now());
    assert.ok((await store.loginLockedUntil(email))!.getTime() > Date.now());
    await store.clearLoginFailures(email);
    assert.is(await store.loginLockedUntil(email), null);
  });

  test("rules: create, read, in-force listing, update, delete", async ({ store }) => {
    const past = await store.createRule(randomUUID(), randomUUID(), {
      title: "Past",
      description: "d",
      effectiveTime: new Date(Date.now() - 1000),
      conditions: [],
    });
    const future = await store.createRule(randomUUID(), randomUUID(), {
      title: "Future",
      description: "d",
      effectiveTime: new Date(Date.now() + 3600_000),
      conditions: ["c"],
    });
    const inForce = await store.listRules(new Date(), 100);
    assert.ok(inForce.some((r) => r.id === past.id) && !inForce.some((r) => r.id === future.id));
    assert.ok((await store.listRules(undefined, 100)).some((r) => r.id === future.id));
    const updated = await store.updateRule(future.id, { title: "Future 2" });
    assert.equal([updated?.title, updated?.conditions], ["Future 2", ["c"]]);
    assert.equal(await store.ruleForUpdate(future.id), updated);
    assert.equal(await store.deleteRule(future.id), updated, "the rule as it was deleted");
    assert.is(await store.getRule(future.id), undefined);
    assert.is(await store.ruleForUpdate(future.id), undefined);
    assert.is(await store.deleteRule(future.id), undefined);
  });

  test("atomically: a change and its audit entry through the store it is given, kept once it returns", async ({
    store,
  }) => {
    const id = randomUUID();
    const rule = await store.atomically(async (s) => {
      const r = await s.createRule(id, randomUUID(), {
        title: "Atomic",
        description: "d",
        effectiveTime: new Date(Date.now() + 3600_000),
        conditions: [],
      });
      await createAudit(s).append({
        adminId: randomUUID(),
        action: "rule.create",
        resourceType: "rule",
        resourceId: r.id,
        before: null,
        after: { title: r.title },
      });
      return r;
    });
    assert.is(rule.id, id);
    assert.is((await store.getRule(id))?.title, "Atomic");
    const [entry] = await store.listAudit({ resourceType: "rule", resourceId: id }, 10);
    assert.is(entry?.action, "rule.create");
    assert.is((await createAudit(store).verify()).valid, true);
  });

  test("the audit log chains every entry to the previous one, even under concurrent appends", async ({
    store,
  }) => {
    const audit = createAudit(store);
    const admin = randomUUID();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        audit.append({
          adminId: admin,
          action: "test.append",
          resourceType: "thing",
          resourceId: String(i),
          before: null,
          after: { i, nested: { b: 1, a: [1, 2] } },
        }),
      ),
    );
    const mine = await store.listAudit({ adminId: admin }, 100);
    assert.is(mine.length, 20);
    assert.ok(
      mine.every((e, i) => i === 0 || e.sequence < mine[i - 1]!.sequence),
      "newest first",
    );
    const verified = await audit.verify();
    assert.is(verified.valid, true);
    const byResource = await store.listAudit({ resourceType: "thing", resourceId: "7", adminId: admin }, 10);
    assert.equal(
      byResource.map((e) => e.after),
      [{ i: 7, nested: { b: 1, a: [1, 2] } }],
    );
    const page2 = await store.listAudit({ adminId: admin }, 5, mine[4]!.sequence);
    assert.equal(
      page2.map((e) => e.sequence),
      mine.slice(5, 10).map((e) => e.sequence),
    );
  });

  test("an entry with an entry id is appended once, however often and concurrently it arrives", async ({
    store,
  }) => {
    const audit = createAudit(store);
    const admin = randomUUID();
    const entry = (entryId: string | undefined, i: number) => ({
      ...(entryId ? { entryId } : {}),
      adminId: admin,
      action: "test.relayed",
      resourceType: "thing",
      resourceId: "r",
      before: null,
      after: { i },
    });
    const id = randomUUID();
    const appended = await Promise.all([0, 1, 2, 3, 4].map((i) => audit.append(entry(id, i))));
    assert.is(new Set(appended.map((e) => e.sequence)).size, 1, "one entry for one id");
    const other = await audit.append(entry(randomUUID(), 9));
    assert.ok(other.sequence > appended[0]!.sequence, "another id is another entry");
    // Entries of the service itself carry no id and are never taken for one another.
    await audit.append(entry(undefined, 0));
    await audit.append(entry(undefined, 0));
    const mine = await store.listAudit({ adminId: admin }, 10);
    assert.is(mine.length, 4);
    assert.equal(mine[3]!.after, appended[0]!.after);
    assert.is((await audit.verify()).valid, true);
  });

  test.run();
}
