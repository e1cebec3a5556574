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

/** What the courses service asks the users service: one batched call per page, never one per row. */
export interface UsersDirectory {
  profiles(ids: string[]): Promise<Map<string, PublicProfile>>;
  standing(userId: string): Promise<UserStanding>;
}

const BATCH = 500;

export function createUsersDirectory(usersServiceUrl: string, serviceToken: string): UsersDirectory {
  const transport = createServiceTransport(usersServiceUrl, { serviceToken });
  const users = createClient(UserService, transport);
  const admin = createClient(UserAdminService, transport);
  return {
    async profiles(ids) {
      const unique = [...new Set(ids)];
      const found = new Map<string, PublicProfile>();
      for (let i = 0; i < unique.length; i += BATCH) {
        const res = await users.batchGetProfiles({ userIds: unique.slice(i, i + BATCH) });
        for (const p of res.profiles) found.set(p.id, p);
      }
      return found;
    },
    async standing(userId) {
      const res = await admin.checkUserActive({ userId });
      return { exists: res.exists, active: res.active, educationLevel: res.educationLevel };
    },
  };
}
