/** Administrator accounts: the first one from configuration, sign-in with lockout, creation by admins. */
import { randomUUID } from "node:crypto";
import {
  type Cursor,
  createLoginGuard,
  defaultLoginPolicy,
  dummyPasswordHash,
  hashPassword,
  type Logger,
  NotFoundError,
  type Page,
  pageOf,
  verifyPassword,
} from "@classconnect/platform";
import type { AdminRecord, AdminStore } from "../store/store.js";
import type { Audit } from "./audit.js";

export function createAdmins(deps: {
  store: AdminStore;
  audit: Audit;
  issue: (adminId: string) => Promise<{ token: string; expiresAt: Date }>;
  logger: Logger;
}) {
  const { store } = deps;
  const guard = createLoginGuard(store, defaultLoginPolicy);
  const publicView = ({ passwordHash: _, ...a }: AdminRecord) => a;
  return {
    /** Creates the configured first admin unless it exists (idempotent across restarts and replicas). */
    async ensureFirstAdmin(email: string, password: string): Promise<void> {
      const normalized = email.trim().toLowerCase();
      if (await store.adminByEmail(normalized)) return;
      try {
        const admin = await store.createAdmin({
          id: randomUUID(),
          email: normalized,
          name: "Administrator",
          passwordHash: await hashPassword(password),
          createdBy: "",
        });
        await deps.audit.append({
          adminId: admin.id,
          action: "admin.bootstrap",
          resourceType: "admin",
          resourceId: admin.id,
          before: null,
          after: { email: admin.email, name: admin.name },
        });
        deps.logger.info({ adminId: admin.id }, "first administrator created from configuration");
      } catch (err) {
        if ((err as { reason?: string }).reason !== "EMAIL_TAKEN") throw err;
      }
    },

    async login(rawEmail: string, password: string) {
      const email = rawEmail.trim().toLowerCase();
      await guard.assertNotLocked(email);
      const admin = await store.adminByEmail(email);
      if (!admin) {
        await verifyPassword(await dummyPasswordHash(), password);
        return guard.failed(email);
      }
      if (!(await verifyPassword(admin.passwordHash, password))) return guard.failed(email);
      await guard.succeeded(email);
      return { admin: publicView(admin), ...(await deps.issue(admin.id)) };
    },

    async create(actorId: string, email: string, name: string, password: string) {
      const admin = await store.createAdmin({
        id: randomUUID(),
        email: email.trim().toLowerCase(),
        name: name.trim(),
        passwordHash: await hashPassword(password),
        createdBy: actorId,
      });
      await deps.audit.append({
        adminId: actorId,
        action: "admin.create",
        resourceType: "admin",
        resourceId: admin.id,
        before: null,
        after: { email: admin.email, name: admin.name },
      });
      return publicView(admin);
    },

    /** Replaces the admin's password, given the current one; a wrong one counts toward the sign-in lock. */
    async changePassword(adminId: string, current: string, next: string): Promise<void> {
      const admin = await store.adminById(adminId);
      if (!admin) throw new NotFoundError("administrator");
      await guard.confirmPassword(admin.email, admin.passwordHash, current, "current_password");
      await store.setAdminPassword(adminId, await hashPassword(next));
      await deps.audit.append({
        adminId,
        action: "admin.password_change",
        resourceType: "admin",
        resourceId: adminId,
        before: null,
        after: null,
      });
    },

    async list(limit: number, after?: Cursor): Promise<Page<Omit<AdminRecord, "passwordHash">>> {
      const rows = await store.listAdmins(limit + 1, after);
      return pageOf(rows.map(publicView), limit, (a) => ({ key: a.createdAt.toISOString(), id: a.id }));
    },
  };
}

export type Admins = ReturnType<typeof createAdmins>;
