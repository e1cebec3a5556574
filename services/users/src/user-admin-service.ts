import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { UserAdminService } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import { UserStatus } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import {
  InvalidArgumentError,
  identityOf,
  int64Counts,
  pageSize,
  pageTokens,
  periodDates,
  requireAdmin,
} from "@classconnect/platform";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { toUserAccount } from "./convert.js";
import type { Actor, AdminChange, createUserAdmin } from "./domain/admin.js";
import type { UserRecord } from "./domain/model.js";

const userPages = pageTokens("users.users", "time");

/**
 * The administrator a change is made for, as the audit log records it: the caller, or the
 * one the admin service names when it calls on an administrator's behalf.
 */
function actorOf(ctx: HandlerContext, req: { actingAdminId: string }): Actor {
  const caller = identityOf(ctx);
  if (caller.kind === "admin") {
    if (req.actingAdminId && req.actingAdminId !== caller.adminId) {
      throw new InvalidArgumentError([
        { field: "acting_admin_id", description: "an administrator acts for themselves: leave it empty" },
      ]);
    }
    return { adminId: caller.adminId };
  }
  if (caller.kind === "service" && req.actingAdminId) return { adminId: req.actingAdminId };
  if (caller.kind === "service") {
    throw new InvalidArgumentError([
      { field: "acting_admin_id", description: "an internal caller must name the administrator it acts for" },
    ]);
  }
  return requireAdmin(ctx);
}
const contactPages = pageTokens("users.contacts", "none");

type UserAdmin = ReturnType<typeof createUserAdmin>;

export function createUserAdminService(admin: UserAdmin): ServiceImpl<typeof UserAdminService> {
  const account = (u: UserRecord) => toUserAccount(u, admin.isBlocked(u));
  const answer = ({ user, audit }: AdminChange) => ({
    user: account(user),
    ...(audit
      ? { change: { id: audit.id, action: audit.action, before: audit.before, after: audit.after } }
      : {}),
  });
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
        userPages.read(req),
      );
      return { users: page.items.map(account), nextPageToken: userPages.write(page.next, req) };
    },
    async blockUser(req, ctx) {
      return answer(await admin.block(actorOf(ctx, req), req.userId, timestampDate(req.until!), req.reason));
    },
    async unblockUser(req, ctx) {
      return answer(await admin.unblock(actorOf(ctx, req), req.userId));
    },
    async setUserRole(req, ctx) {
      return answer(await admin.setRole(actorOf(ctx, req), req.userId, req.role));
    },
    async listContacts(req) {
      const page = await admin.contacts(req.userIds, pageSize(req.pageSize, 1000), contactPages.read(req));
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
        nextPageToken: contactPages.write(page.next, req),
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
