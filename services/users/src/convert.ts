/** Conversions between the users service's domain records and its Protobuf messages. */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type PublicProfile,
  PublicProfileSchema,
  type Session,
  SessionSchema,
  type User,
  type UserAccount,
  UserAccountSchema,
  UserSchema,
  UserStatus,
} from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import type { SessionTokens } from "./domain/auth.js";
import type { UserRecord } from "./domain/model.js";

export function toUser(u: UserRecord): User {
  return create(UserSchema, {
    id: u.id,
    email: u.email,
    firstName: u.firstName,
    lastName: u.lastName,
    location: u.location,
    bio: u.bio,
    avatarUrl: u.avatarUrl,
    educationLevel: u.educationLevel,
    website: u.website,
    privacy: { showEmail: u.showEmail, showLocation: u.showLocation },
    notificationsOptIn: u.notificationsOptIn,
    timeZone: u.timeZone,
    emailVerified: u.emailVerified,
    role: u.role,
    hasPassword: u.passwordHash !== null,
    googleLinked: u.googleUid !== null,
    createTime: timestampFromDate(u.createdAt),
    updateTime: timestampFromDate(u.updatedAt),
  });
}

/** What other users may see: private fields only when the user chose to show them. */
export function toPublicProfile(u: UserRecord): PublicProfile {
  return create(PublicProfileSchema, {
    id: u.id,
    firstName: u.firstName,
    lastName: u.lastName,
    avatarUrl: u.avatarUrl,
    bio: u.bio,
    website: u.website,
    role: u.role,
    email: u.showEmail ? u.email : "",
    location: u.showLocation ? u.location : "",
  });
}

export function toUserAccount(u: UserRecord, blocked: boolean): UserAccount {
  return create(UserAccountSchema, {
    user: toUser(u),
    status: blocked ? UserStatus.BLOCKED : UserStatus.ACTIVE,
    ...(blocked && u.blockedUntil
      ? { blockedUntil: timestampFromDate(u.blockedUntil), blockReason: u.blockReason ?? "" }
      : {}),
  });
}

export function toSession(s: SessionTokens): Session {
  return create(SessionSchema, {
    accessToken: s.accessToken,
    accessTokenExpireTime: timestampFromDate(s.accessTokenExpiresAt),
    refreshToken: s.refreshToken,
    refreshTokenExpireTime: timestampFromDate(s.refreshTokenExpiresAt),
  });
}
