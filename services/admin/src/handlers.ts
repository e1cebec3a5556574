/** The admin service's APIs: admin sign-in and accounts, rules, the audit log, user management and the platform's figures. */
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type AdminAuthService,
  GetJwksResponseSchema,
} from "@classconnect/gen/classconnect/admin/v1/admin_auth_service_pb.js";
import type { AuditService } from "@classconnect/gen/classconnect/admin/v1/audit_service_pb.js";
import type { PlatformService } from "@classconnect/gen/classconnect/admin/v1/platform_service_pb.js";
import {
  RuleInputSchema,
  type RuleService,
} from "@classconnect/gen/classconnect/admin/v1/rule_service_pb.js";
import type { UserManagementService } from "@classconnect/gen/classconnect/admin/v1/user_management_service_pb.js";
import {
  UserAdminService,
  type UserChange,
} from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import {
  assertValid,
  createServiceTransport,
  dateOrUnset,
  identityOf,
  type Logger,
  maskedFields,
  type PublicJwk,
  pageSize,
  pageTokens,
  requireAdmin,
  timestampOrUnset,
} from "@classconnect/platform";
import { createClient, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Admins } from "./domain/admins.js";
import type { Audit } from "./domain/audit.js";
import type { Figures } from "./domain/figures.js";
import type { Rules } from "./domain/rules.js";
import type { AdminRecord, AdminStore, AuditRecord, RuleFields, RuleRecord } from "./store/store.js";

const adminPages = pageTokens("admin.admins", "time");
const rulePages = pageTokens("admin.rules", "time");
const auditPages = pageTokens("admin.audit", "integer");

const ts = (d: Date) => timestampFromDate(d);

export function createAdminAuthService(
  admins: Admins,
  jwks: () => PublicJwk[],
): ServiceImpl<typeof AdminAuthService> {
  const toAdmin = (a: Omit<AdminRecord, "passwordHash">) => ({
    id: a.id,
    email: a.email,
    name: a.name,
    createdBy: a.createdBy,
    createTime: ts(a.createdAt),
    ...(a.disabledAt ? { disableTime: ts(a.disabledAt) } : {}),
  });
  return {
    async login(req) {
      const { admin, token, expiresAt } = await admins.login(req.email, req.password);
      return { admin: toAdmin(admin), accessToken: token, accessTokenExpireTime: ts(expiresAt) };
    },
    async createAdmin(req, ctx) {
      return {
        admin: toAdmin(await admins.create(requireAdmin(ctx).adminId, req.email, req.name, req.password)),
      };
    },
    async disableAdmin(req, ctx) {
      return { admin: toAdmin(await admins.disable(requireAdmin(ctx).adminId, req.adminId)) };
    },
    async enableAdmin(req, ctx) {
      return { admin: toAdmin(await admins.enable(requireAdmin(ctx).adminId, req.adminId)) };
    },
    async logout(_req, ctx) {
      const { adminId, sessionId } = requireAdmin(ctx);
      await admins.logout(adminId, sessionId);
      return {};
    },
    async changePassword(req, ctx) {
      const { adminId, sessionId } = requireAdmin(ctx);
      await admins.changePassword(adminId, sessionId, req.currentPassword, req.newPassword);
      return {};
    },
    listRevokedSessions: (req, ctx) => admins.revokedSessions(req, ctx.signal),
    async listAdmins(req) {
      const page = await admins.list(pageSize(req.pageSize), adminPages.read(req));
      return { admins: page.items.map(toAdmin), nextPageToken: adminPages.write(page.next, req) };
    },
    async getJwks() {
      return create(GetJwksResponseSchema, { keys: jwks() });
    },
  };
}

/** A rule as `reader` may see it: the author's id (an administrator's) is for administrators only. */
const toRule = (r: RuleRecord, reader: "admin" | "user" = "admin") => ({
  id: r.id,
  title: r.title,
  description: r.description,
  effectiveTime: ts(r.effectiveTime),
  conditions: r.conditions,
  ...(reader === "admin" ? { createdBy: r.createdBy } : {}),
  createTime: ts(r.createdAt),
  updateTime: ts(r.updatedAt),
});

/** Who reads rules through GetRule and ListRules, the two methods users may call too. */
const readerOf = (ctx: HandlerContext) => (identityOf(ctx).kind === "admin" ? "admin" : "user");

const ruleFields = (r: {
  title: string;
  description: string;
  effectiveTime?: Timestamp;
  conditions: string[];
}): RuleFields => ({
  title: r.title.trim(),
  description: r.description,
  effectiveTime: dateOrUnset(r.effectiveTime),
  conditions: r.conditions,
});

const ruleMask: Record<string, keyof RuleFields> = {
  title: "title",
  description: "description",
  effective_time: "effectiveTime",
  conditions: "conditions",
};

export function createRuleService(rules: Rules): ServiceImpl<typeof RuleService> {
  return {
    async createRule(req, ctx) {
      return { rule: toRule(await rules.create(requireAdmin(ctx).adminId, ruleFields(req.rule!))) };
    },
    async getRule(req, ctx) {
      return { rule: toRule(await rules.get(req.ruleId), readerOf(ctx)) };
    },
    async listRules(req, ctx) {
      const page = await rules.list(req.inForceOnly, pageSize(req.pageSize), rulePages.read(req));
      const reader = readerOf(ctx);
      return {
        rules: page.items.map((r) => toRule(r, reader)),
        nextPageToken: rulePages.write(page.next, req),
      };
    },
    async updateRule(req, ctx) {
      // No rule at all is one of empty fields: what the mask names is validated as cleared.
      const input = ruleFields(req.rule ?? create(RuleInputSchema));
      const changes = maskedFields(input, req.updateMask?.paths, ruleMask);
      const rule = await rules.update(
        requireAdmin(ctx).adminId,
        req.ruleId,
        changes,
        (merged) =>
          assertValid(
            RuleInputSchema,
            create(RuleInputSchema, { ...merged, effectiveTime: timestampOrUnset(merged.effectiveTime) }),
            "rule",
          ),
        req.notifyUsers,
      );
      return { rule: toRule(rule) };
    },
    async deleteRule(req, ctx) {
      await rules.remove(requireAdmin(ctx).adminId, req.ruleId);
      return {};
    },
  };
}

const toEntry = (e: AuditRecord) => ({
  sequence: BigInt(e.sequence),
  adminId: e.adminId,
  action: e.action,
  resourceType: e.resourceType,
  resourceId: e.resourceId,
  ...(e.before ? { before: e.before as never } : {}),
  ...(e.after ? { after: e.after as never } : {}),
  createTime: ts(e.createdAt),
  hash: e.hash,
  previousHash: e.previousHash,
});

export function createAuditService(store: AdminStore, audit: Audit): ServiceImpl<typeof AuditService> {
  return {
    async listAuditEntries(req) {
      const limit = pageSize(req.pageSize);
      const cursor = auditPages.read(req);
      const rows = await store.listAudit(
        {
          ...(req.adminId ? { adminId: req.adminId } : {}),
          ...(req.action ? { action: req.action } : {}),
          ...(req.resourceType ? { resourceType: req.resourceType } : {}),
          ...(req.resourceId ? { resourceId: req.resourceId } : {}),
          ...(req.fromTime ? { from: timestampDate(req.fromTime) } : {}),
          ...(req.toTime ? { to: timestampDate(req.toTime) } : {}),
        },
        limit + 1,
        cursor ? Number(cursor.key) : undefined,
      );
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      return {
        entries: items.map(toEntry),
        nextPageToken:
          rows.length > limit && last
            ? auditPages.write({ key: last.sequence, id: "00000000-0000-4000-8000-000000000000" }, req)
            : "",
      };
    },
    async recordAuditEntry(req) {
      const entry = await audit.append({
        entryId: req.entryId,
        adminId: req.adminId,
        action: req.action,
        resourceType: req.resourceType,
        resourceId: req.resourceId,
        before: req.before ?? null,
        after: req.after ?? null,
      });
      return { entry: toEntry(entry) };
    },
    async verifyAuditChain() {
      const r = await audit.verify();
      return {
        valid: r.valid,
        checkedCount: BigInt(r.checked),
        firstInvalidSequence: BigInt(r.firstInvalid),
      };
    },
  };
}

/**
 * Backoffice user management: the users service does the work, and records each change's
 * audit entry in the change's own transaction (relayed here through its outbox). The entry
 * it answers with is appended at once, so that the log shows it on return; the relay's
 * delivery of the same entry then adds nothing.
 */
export function createUserManagementService(
  usersUrl: string,
  serviceToken: string,
  audit: Audit,
  logger: Logger,
): ServiceImpl<typeof UserManagementService> {
  const users = createClient(UserAdminService, createServiceTransport(usersUrl, { serviceToken }));
  /**
   * Appends the users service's entry at once, so the change is in the log on return. The
   * change has committed by now, with the same entry in the users service's outbox, whose
   * relay appends it (once per entry id): a failure here delays the entry, and the caller
   * is not told the change failed when it did not.
   */
  const record = async (adminId: string, userId: string, change: UserChange | undefined) => {
    if (!change) return;
    try {
      await audit.append({
        entryId: change.id,
        adminId,
        action: change.action,
        resourceType: "user",
        resourceId: userId,
        before: change.before ?? null,
        after: change.after ?? null,
      });
    } catch (err) {
      logger.warn(
        { err, entry: change.id },
        "audit entry not appended at once; the users service's relay will",
      );
    }
  };
  return {
    async listUsers(req) {
      const res = await users.listUsers({
        status: req.status,
        role: req.role,
        query: req.query,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { users: res.users, nextPageToken: res.nextPageToken };
    },
    async blockUser(req, ctx) {
      const { adminId } = requireAdmin(ctx);
      const res = await users.blockUser({
        userId: req.userId,
        until: req.until!,
        reason: req.reason,
        actingAdminId: adminId,
      });
      await record(adminId, req.userId, res.change);
      return { user: res.user! };
    },
    async unblockUser(req, ctx) {
      const { adminId } = requireAdmin(ctx);
      const res = await users.unblockUser({ userId: req.userId, actingAdminId: adminId });
      await record(adminId, req.userId, res.change);
      return { user: res.user! };
    },
    async setUserRole(req, ctx) {
      const { adminId } = requireAdmin(ctx);
      const res = await users.setUserRole({ userId: req.userId, role: req.role, actingAdminId: adminId });
      await record(adminId, req.userId, res.change);
      return { user: res.user! };
    },
  };
}

export function createPlatformService(figures: Figures): ServiceImpl<typeof PlatformService> {
  return {
    async getPlatformFigures(req) {
      const f = await figures.platform(
        req.fromTime ? timestampDate(req.fromTime) : undefined,
        req.toTime ? timestampDate(req.toTime) : undefined,
      );
      return {
        fromTime: ts(f.from),
        toTime: ts(f.to),
        ...(f.users ? { users: f.users } : {}),
        ...(f.courses ? { courses: f.courses } : {}),
        deliveries: f.deliveries,
        unavailable: f.unavailable,
      };
    },
  };
}
