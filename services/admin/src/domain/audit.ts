/** The tamper-evident audit log: each entry's hash covers its content and its predecessor's hash. */
import { createHash } from "node:crypto";
import type { AdminStore, AuditInput, AuditRecord } from "../store/store.js";

/** JSON with object keys sorted, so equal values always hash the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

export function entryHash(e: AuditInput, sequence: number, previousHash: string, createdAt: Date): string {
  return createHash("sha256")
    .update(
      [
        previousHash,
        sequence,
        e.adminId,
        e.action,
        e.resourceType,
        e.resourceId,
        canonicalJson(e.before),
        canonicalJson(e.after),
        createdAt.toISOString(),
      ].join("\n"),
    )
    .digest("hex");
}

export function createAudit(store: AdminStore) {
  return {
    append: (entry: AuditInput): Promise<AuditRecord> =>
      store.appendAudit(entry, (sequence, previousHash, createdAt) =>
        entryHash(entry, sequence, previousHash, createdAt),
      ),

    /** Recomputes every hash in order; the first entry that does not match breaks the chain. */
    async verify(): Promise<{ valid: boolean; checked: number; firstInvalid: number }> {
      let previous = "0".repeat(64);
      let checked = 0;
      let after = 0;
      for (;;) {
        const page = await store.auditInOrder(after, 1000);
        if (page.length === 0) return { valid: true, checked, firstInvalid: 0 };
        for (const e of page) {
          checked++;
          const expected = entryHash(e, e.sequence, previous, e.createdAt);
          if (e.previousHash !== previous || e.hash !== expected || e.sequence !== checked) {
            return { valid: false, checked, firstInvalid: e.sequence };
          }
          previous = e.hash;
        }
        after = page[page.length - 1]!.sequence;
      }
    },
  };
}

export type Audit = ReturnType<typeof createAudit>;
