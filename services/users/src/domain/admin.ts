import { UserRole } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import {
  type Cursor,
  enqueueAuditEntry,
  enqueueEvent,
  NotFoundError,
  type Page,
  pageOf,
  type Sql,
} from "@classconnect/platform";
import { isBlocked } from "./auth.js";
import type { Deps } from "./deps.js";
import type { UserFilter, UserRecord, UsersStore } from "./model.js";

/** The administrator a change is made for. */
export interface Actor {
  adminId: string;
}

/** A user after an administrator's change, and the audit entry it recorded (none when nothing changed). */
export interface AdminChange {
  user: UserRecord;
  audit?: { id: string; action: string; before: UserState; after: UserState };
}

/** A user as the audit log records it before and after an administrator's change. */
export type UserState = { active: boolean; role: string; blocked_until?: string; block_reason?: string };

export function createUserAdmin(deps: Deps) {
  const { store } = deps;
  const mustExist = (user: UserRecord | undefined): UserRecord => {
    if (!user) throw new NotFoundError("user");
    return user;
  };
  const stateOf = (user: UserRecord): UserState => {
    const blocked = isBlocked(user, deps.now());
    return {
      active: !blocked,
      role: UserRole[user.role] ?? String(user.role),
      ...(blocked
        ? { blocked_until: user.blockedUntil!.toISOString(), block_reason: user.blockReason ?? "" }
        : {}),
    };
  };
  /**
   * Makes an administrator's change to a user in one transaction with its events and,
   * when the user's state changed, its audit entry (an outbox event, relayed to the admin
   * service): a change is never left unaudited, and its before and after are read under
   * the row's lock, so that two administrators at once each record what they did.
   */
  const change = (
    actor: Actor,
    action: string,
    userId: string,
    apply: (store: UsersStore, tx: Sql, current: UserRecord) => Promise<UserRecord>,
  ): Promise<AdminChange> =>
    store.atomically(async (s, tx) => {
      const current = mustExist(await s.userForUpdate(userId));
      const user = await apply(s, tx, current);
      const before = stateOf(current);
      const after = stateOf(user);
      if (JSON.stringify(before) === JSON.stringify(after)) return { user };
      const id = await enqueueAuditEntry(tx, {
        adminId: actor.adminId,
        action,
        resourceType: "user",
        resourceId: userId,
        before,
        after,
      });
      return { user, audit: { id, action, before, after } };
    });
  return {
    async list(filter: UserFilter, limit: number, after?: Cursor): Promise<Page<UserRecord>> {
      const rows = await store.listUsers(filter, limit + 1, after);
      return pageOf(rows, limit, (u) => ({ key: u.createdAt.toISOString(), id: u.id }));
    },

    /** Blocks until `until`; live sessions end at once. */
    block(actor: Actor, userId: string, until: Date, reason: string): Promise<AdminChange> {
      return change(actor, "user.block", userId, async (s, tx) => {
        const user = mustExist(await s.updateUser(userId, { blockedUntil: until, blockReason: reason }));
        await s.revokeUserSessions(userId, "blocked");
        await enqueueEvent(tx, {
          type: "ACCOUNT_BLOCKED",
          recipients: { userIds: [userId] },
          data: { until: until.toISOString(), reason },
        });
        return user;
      });
    },

    /** Lifts a block; for a user who is not blocked it changes nothing and tells no one. */
    unblock(actor: Actor, userId: string): Promise<AdminChange> {
      return change(actor, "user.unblock", userId, async (s, tx, current) => {
        if (!isBlocked(current, deps.now())) return current;
        const user = mustExist(await s.updateUser(userId, { blockedUntil: null, blockReason: null }));
        await enqueueEvent(tx, { type: "ACCOUNT_UNBLOCKED", recipients: { userIds: [userId] }, data: {} });
        return user;
      });
    },

    setRole(actor: Actor, userId: string, role: number): Promise<AdminChange> {
      return change(actor, "user.set_role", userId, async (s, _tx, current) =>
        current.role === role ? current : mustExist(await s.updateUser(userId, { role })),
      );
    },

    async checkActive(userId: string): Promise<{ user?: UserRecord; active: boolean }> {
      const user = await store.userById(userId);
      return { user, active: user !== undefined && !isBlocked(user, deps.now()) };
    },

    isBlocked: (user: UserRecord) => isBlocked(user, deps.now()),

    /** The backoffice's figures: users now, and those registered in [from, to). */
    figures: (from: Date, to: Date) => store.userFigures(from, to, deps.now()),

    /** The given users, or every user a page at a time (in id order). */
    async contacts(ids: string[], limit: number, after?: Cursor): Promise<Page<UserRecord>> {
      if (ids.length > 0) return { items: await store.usersByIds(ids) };
      const rows = await store.usersInIdOrder(limit + 1, after?.id);
      return pageOf(rows, limit, (u) => ({ key: "", id: u.id }));
    },
  };
}
