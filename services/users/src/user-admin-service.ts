import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { UserAdminService } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import { UserStatus } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { int64Counts, pageSize, pageTokens, periodDates } from "@classconnect/platform";
import type { ServiceImpl } from "@connectrpc/connect";
import { toUserAccount } from "./convert.js";
import type { createUserAdmin } from "./domain/admin.js";
import type { UserRecord } from "./domain/model.js";

const userPages = pageTokens("users.users", "time");
const contactPages = pageTokens("users.contacts", "none");

type UserAdmin = ReturnType<typeof createUserAdmin>;

export function createUserAdminService(admin: UserAdmin): ServiceImpl<typeof UserAdminService> {
  const account = (u: UserRecord) => toUserAccount(u, admin.isBlocked(u));
  return {
    async listUsers(req) {
      const status =
        req.status === UserStatus.BLOCKED
          ? "blocked"
          : req.status === UserStatus.ACTIVE
            ? "active"
            : undefined;
      const page = await admin.list(
        {
          ...(status ? { status } : {}),
          ...(req.role ? { role: req.role } : {}),
          ...(req.query ? { query: req.query } : {}),
        },
        pageSize(req.pageSize),
        userPages.read(req.pageToken),
      );
      return { users: page.items.map(account), nextPageToken: userPages.write(page.next) };
    },
    async blockUser(req) {
      return { user: account(await admin.block(req.userId, timestampDate(req.until!), req.reason)) };
    },
    async unblockUser(req) {
      return { user: account(await admin.unblock(req.userId)) };
    },
    async setUserRole(req) {
      return { user: account(await admin.setRole(req.userId, req.role)) };
    },
    async listContacts(req) {
      const page = await admin.contacts(
        req.userIds,
        pageSize(req.pageSize, 1000),
        contactPages.read(req.pageToken),
      );
      return {
        contacts: page.items.map((u) => ({
          userId: u.id,
          email: u.email,
          firstName: u.firstName,
          notificationsOptIn: u.notificationsOptIn,
          active: !admin.isBlocked(u),
          timeZone: u.timeZone,
          emailVerified: u.emailVerified,
        })),
        nextPageToken: contactPages.write(page.next),
      };
    },
    async getUserFigures(req) {
      const { from, to } = periodDates(req.period);
      const figures = await admin.figures(from, to);
      return { figures: int64Counts(figures) };
    },
    async checkUserActive(req) {
      const { user, active } = await admin.checkActive(req.userId);
      return {
        active,
        exists: user !== undefined,
        educationLevel: user?.educationLevel ?? 0,
        notificationsOptIn: user?.notificationsOptIn ?? false,
        email: user?.email ?? "",
        role: user?.role ?? 0,
        ...(user?.blockedUntil && !active ? { blockedUntil: timestampFromDate(user.blockedUntil) } : {}),
      };
    },
  };
}
