import { randomUUID } from "node:crypto";
import {
  type Cursor,
  InvalidArgumentError,
  NotFoundError,
  type Page,
  pageOf,
  recordingBlobs,
  requireImage,
  UnauthenticatedError,
} from "@classconnect/platform";
import { type Auth, normalizeEmail, type OwnerProof, sendActivationPin } from "./auth.js";
import type { Deps } from "./deps.js";
import { knownTimeZone, type ProfilePatch, type UserRecord } from "./model.js";

/** The profile fields a user may change, as named in UpdateMe's field mask. */
export interface ProfileChanges {
  email?: string;
  firstName?: string;
  lastName?: string;
  location?: string;
  bio?: string;
  educationLevel?: number;
  website?: string;
  showEmail?: boolean;
  showLocation?: boolean;
  notificationsOptIn?: boolean;
  timeZone?: string;
}

/** `auth` confirms an e-mail change with the owner's password (and its sign-in lock). */
export function createProfiles(deps: Deps, auth: Pick<Auth, "confirmOwner">) {
  const { store } = deps;

  async function me(userId: string): Promise<UserRecord> {
    const user = await store.userById(userId);
    if (!user) throw new UnauthenticatedError("the account no longer exists", "ACCOUNT_MISSING");
    return user;
  }

  return {
    me,

    /** Changing the e-mail takes `proof` that the owner is at the keyboard (see Auth.confirmOwner). */
    async updateMe(userId: string, changes: ProfileChanges, proof: OwnerProof): Promise<UserRecord> {
      const current = await me(userId);
      const patch: ProfilePatch = {};
      for (const key of ["firstName", "lastName", "location", "bio", "website"] as const) {
        const value = changes[key];
        if (value !== undefined) patch[key] = value.trim();
      }
      for (const key of ["educationLevel", "showEmail", "showLocation", "notificationsOptIn"] as const) {
        if (changes[key] !== undefined) (patch as Record<string, unknown>)[key] = changes[key];
      }
      let emailChanged = false;
      if (changes.email !== undefined) {
        const email = normalizeEmail(changes.email);
        if (email !== current.email) {
          patch.email = email;
          patch.emailVerified = false;
          emailChanged = true;
        }
      }
      const invalid: { field: string; description: string }[] = [];
      if (patch.firstName === "")
        invalid.push({ field: "user.first_name", description: "must not be blank" });
      if (patch.lastName === "") invalid.push({ field: "user.last_name", description: "must not be blank" });
      if (changes.timeZone !== undefined) {
        const zone = knownTimeZone(changes.timeZone);
        if (zone === undefined)
          invalid.push({ field: "user.time_zone", description: "not an IANA time zone" });
        else patch.timeZone = zone;
      }
      if (invalid.length > 0) throw new InvalidArgumentError(invalid);
      if (emailChanged) await auth.confirmOwner(current, proof);
      // An e-mail change, its new PIN and the old address's warning land together.
      return store.atomically(async (s, tx) => {
        const updated = (await s.updateUser(userId, patch))!;
        if (emailChanged) {
          await sendActivationPin(deps, updated, "hold", { store: s, tx });
          // The old address is told, so that a change its owner did not make does not go unnoticed.
          await deps.mailer.send(
            {
              kind: "EMAIL_CHANGED",
              to: current.email,
              data: { first_name: current.firstName, new_email: maskEmail(updated.email) },
            },
            tx,
          );
        }
        return updated;
      });
    },

    async profile(userId: string): Promise<UserRecord> {
      const user = await store.userById(userId);
      if (!user) throw new NotFoundError("user");
      return user;
    },

    async search(query: string, limit: number, after?: Cursor): Promise<Page<UserRecord>> {
      const rows = await store.searchUsers(query.trim().toLowerCase(), limit + 1, after);
      return pageOf(rows, limit, (u) => ({ key: `${u.firstName} ${u.lastName}`.toLowerCase(), id: u.id }));
    },

    async batch(ids: string[]): Promise<UserRecord[]> {
      const found = new Map((await store.usersByIds(ids)).map((u) => [u.id, u]));
      return ids.flatMap((id) => found.get(id) ?? []);
    },

    async uploadAvatar(userId: string, bytes: Uint8Array): Promise<UserRecord> {
      const type = requireImage(bytes);
      const key = `avatars/${userId}/${randomUUID()}.${type.extension}`;
      const url = await deps.blobs.put(key, bytes);
      const set = await recordingBlobs(deps.blobs, [key], () => store.setAvatar(userId, { url, key }));
      if (!set) {
        await deps.blobs.delete(key);
        throw new NotFoundError("user");
      }
      if (set.replacedKey) await deps.blobs.delete(set.replacedKey);
      return set.user;
    },

    async deleteAvatar(userId: string): Promise<UserRecord> {
      const set = await store.setAvatar(userId, null);
      if (!set) throw new NotFoundError("user");
      if (set.replacedKey) await deps.blobs.delete(set.replacedKey);
      return set.user;
    },
  };
}

/** An address as a warning shows it to someone else: "ada@example.com" → "a***@example.com". */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf("@");
  return at < 1 ? "***" : `${email[0]}***${email.slice(at)}`;
}
