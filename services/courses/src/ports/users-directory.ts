import { UserAdminService } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import type { PublicProfile } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import { createServiceTransport } from "@classconnect/platform";
import { createClient } from "@connectrpc/connect";

export interface UserStanding {
  exists: boolean;
  active: boolean;
  educationLevel: number;
}

/**
 * What the courses service asks the users service: one batched call per page,
 * never one per row; public profiles are cached for 30 s.
 */
export interface UsersDirectory {
  profiles(ids: string[]): Promise<Map<string, PublicProfile>>;
  standing(userId: string): Promise<UserStanding>;
}

const BATCH = 500;

/** Public profiles change rarely; course pages read them constantly. */
const PROFILE_TTL_MS = 30_000;
const PROFILE_CACHE_MAX = 10_000;

export function createUsersDirectory(usersServiceUrl: string, serviceToken: string): UsersDirectory {
  const cache = new Map<string, { profile: PublicProfile; at: number }>();
  const transport = createServiceTransport(usersServiceUrl, { serviceToken });
  const users = createClient(UserService, transport);
  const admin = createClient(UserAdminService, transport);
  return {
    async profiles(ids) {
      const now = Date.now();
      const found = new Map<string, PublicProfile>();
      const missing: string[] = [];
      for (const id of new Set(ids)) {
        const hit = cache.get(id);
        if (hit && now - hit.at < PROFILE_TTL_MS) found.set(id, hit.profile);
        else missing.push(id);
      }
      for (let i = 0; i < missing.length; i += BATCH) {
        const res = await users.batchGetProfiles({ userIds: missing.slice(i, i + BATCH) });
        for (const p of res.profiles) {
          found.set(p.id, p);
          if (cache.size >= PROFILE_CACHE_MAX) cache.delete(cache.keys().next().value!);
          cache.set(p.id, { profile: p, at: now });
        }
      }
      return found;
    },
    async standing(userId) {
      const res = await admin.checkUserActive({ userId });
      return { exists: res.exists, active: res.active, educationLevel: res.educationLevel };
    },
  };
}
