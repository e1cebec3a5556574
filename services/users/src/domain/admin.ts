import { type Cursor, NotFoundError, type Page, pageOf } from "@classconnect/platform";
import { isBlocked } from "./auth.js";
import type { Deps } from "./deps.js";
import type { UserFilter, UserRecord } from "./model.js";

export function createUserAdmin(deps: Deps) {
  const { store } = deps;
  const mustExist = (user: UserRecord | undefined): UserRecord => {
    if (!user) throw new NotFoundError("user");
    return user;
  };
  return {
    async list(filter: UserFilter, limit: number, after?: Cursor): Promise<Page<UserRecord>> {
      const rows = await store.listUsers(filter, limit + 1, after);
      return pageOf(rows, limit, (u) => ({ key: u.createdAt.toISOString(), id: u.id }));
    },

    /** Blocks until `until`; live sessions end at once. */
    async block(userId: string, until: Date, reason: string): Promise<UserRecord> {
      const user = mustExist(await store.updateUser(userId, { blockedUntil: until, blockReason: reason }));
      await store.revokeUserSessions(userId, "blocked");
      await deps.events.publish({
        type: "ACCOUNT_BLOCKED",
        recipients: { userIds: [userId] },
        data: { until: until.toISOString(), reason },
      });
      return user;
    },

    /** Lifts a block; for a user who is not blocked it changes nothing and tells no one. */
    async unblock(userId: string): Promise<UserRecord> {
      const current = mustExist(await store.userById(userId));
      if (!isBlocked(current, deps.now())) return current;
      const user = mustExist(await store.updateUser(userId, { blockedUntil: null, blockReason: null }));
      await deps.events.publish({ type: "ACCOUNT_UNBLOCKED", recipients: { userIds: [userId] }, data: {} });
      return user;
    },

    async setRole(userId: string, role: number): Promise<UserRecord> {
      const current = mustExist(await store.userById(userId));
      if (current.role === role) return current;
      return mustExist(await store.updateUser(userId, { role }));
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
