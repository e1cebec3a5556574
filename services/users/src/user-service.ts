import type { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import { maskPaths, pageSize, pageTokens, requireUser } from "@classconnect/platform";
import type { ServiceImpl } from "@connectrpc/connect";
import { toPublicProfile, toUser } from "./convert.js";
import type { createAuth } from "./domain/auth.js";
import type { createProfiles, ProfileChanges } from "./domain/profiles.js";

const searchPages = pageTokens("users.search", "text");

type Profiles = ReturnType<typeof createProfiles>;

/** `auth` deletes accounts: that takes the password check and its sign-in lock. */
/** What UpdateMe's mask may name (its proto's `field_mask.in`, without the sub-paths it lets through). */
const UPDATE_ME_PATHS = [
  "first_name",
  "last_name",
  "email",
  "bio",
  "location",
  "time_zone",
  "education_level",
  "website",
  "privacy",
  "notifications_opt_in",
];

export function createUserService(
  profiles: Profiles,
  auth: Pick<ReturnType<typeof createAuth>, "deleteAccount">,
): ServiceImpl<typeof UserService> {
  return {
    async getMe(_req, ctx) {
      return { user: toUser(await profiles.me(requireUser(ctx).userId)) };
    },
    async updateMe(req, ctx) {
      const user = req.user!;
      const changes: ProfileChanges = {};
      for (const path of maskPaths(req.updateMask?.paths, UPDATE_ME_PATHS)) {
        switch (path) {
          case "first_name":
            changes.firstName = user.firstName;
            break;
          case "last_name":
            changes.lastName = user.lastName;
            break;
          case "email":
            changes.email = user.email;
            break;
          case "bio":
            changes.bio = user.bio;
            break;
          case "location":
            changes.location = user.location;
            break;
          case "education_level":
            changes.educationLevel = user.educationLevel;
            break;
          case "website":
            changes.website = user.website;
            break;
          case "privacy":
            changes.showEmail = user.privacy?.showEmail ?? false;
            changes.showLocation = user.privacy?.showLocation ?? false;
            break;
          case "notifications_opt_in":
            changes.notificationsOptIn = user.notificationsOptIn;
            break;
          case "time_zone":
            changes.timeZone = user.timeZone;
            break;
        }
      }
      const proof = { password: req.password, googleIdToken: req.googleIdToken };
      return { user: toUser(await profiles.updateMe(requireUser(ctx).userId, changes, proof)) };
    },
    async getProfile(req) {
      return { profile: toPublicProfile(await profiles.profile(req.userId)) };
    },
    async searchUsers(req) {
      const page = await profiles.search(req.query, pageSize(req.pageSize), searchPages.read(req));
      return { profiles: page.items.map(toPublicProfile), nextPageToken: searchPages.write(page.next, req) };
    },
    async uploadAvatar(req, ctx) {
      return { user: toUser(await profiles.uploadAvatar(requireUser(ctx).userId, req.content)) };
    },
    async deleteAvatar(_req, ctx) {
      return { user: toUser(await profiles.deleteAvatar(requireUser(ctx).userId)) };
    },
    async deleteMe(req, ctx) {
      await auth.deleteAccount(requireUser(ctx).userId, {
        password: req.password,
        googleIdToken: req.googleIdToken,
      });
      return {};
    },
    async batchGetProfiles(req) {
      return { profiles: (await profiles.batch(req.userIds)).map(toPublicProfile) };
    },
  };
}
