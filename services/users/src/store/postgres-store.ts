import {
  AlreadyExistsError,
  createPostgresLoginAttempts,
  enqueueEvent,
  inTransaction,
  likeContains,
  likePrefix,
  type Sql,
} from "@classconnect/platform";
import type {
  Cursor,
  NewUser,
  PasswordGuard,
  PinResult,
  ProfilePatch,
  RotateResult,
  UserFilter,
  UserRecord,
  UsersStore,
} from "../domain/model.js";

interface UserRow {
  id: string;
  email: string;
  password_hash: string | null;
  google_uid: string | null;
  first_name: string;
  last_name: string;
  location: string;
  bio: string;
  avatar_url: string;
  avatar_key: string | null;
  education_level: number;
  website: string;
  show_email: boolean;
  show_location: boolean;
  notifications_opt_in: boolean;
  email_verified: boolean;
  time_zone: string;
  role: number;
  blocked_until: Date | null;
  block_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

function toUser(r: UserRow): UserRecord {
  return {
    id: r.id,
    email: r.email,
    passwordHash: r.password_hash,
    googleUid: r.google_uid,
    firstName: r.first_name,
    lastName: r.last_name,
    location: r.location,
    bio: r.bio,
    avatarUrl: r.avatar_url,
    avatarKey: r.avatar_key,
    educationLevel: r.education_level,
    website: r.website,
    showEmail: r.show_email,
    showLocation: r.show_location,
    notificationsOptIn: r.notifications_opt_in,
    emailVerified: r.email_verified,
    timeZone: r.time_zone,
    role: r.role,
    blockedUntil: r.blocked_until,
    blockReason: r.block_reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const patchColumns: Record<keyof ProfilePatch, string> = {
  email: "email",
  firstName: "first_name",
  lastName: "last_name",
  location: "location",
  bio: "bio",
  educationLevel: "education_level",
  website: "website",
  showEmail: "show_email",
  showLocation: "show_location",
  notificationsOptIn: "notifications_opt_in",
  emailVerified: "email_verified",
  timeZone: "time_zone",
  passwordHash: "password_hash",
  googleUid: "google_uid",
  role: "role",
  blockedUntil: "blocked_until",
  blockReason: "block_reason",
};

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: string; constraint_name?: string };
  return e.code === "23505" && e.constraint_name === constraint;
}

/** A taken e-mail or Google account as ALREADY_EXISTS; any other error as it is. */
function takenError(err: unknown): unknown {
  if (isUniqueViolation(err, "users_email_key")) {
    return new AlreadyExistsError("an account with this e-mail already exists", "EMAIL_TAKEN");
  }
  if (isUniqueViolation(err, "users_google_uid_key")) {
    return new AlreadyExistsError("this Google account is linked to another user", "GOOGLE_ACCOUNT_TAKEN");
  }
  return err;
}

export function createPostgresUsersStore(sql: Sql): UsersStore {
  const live = sql`deleted_at is null`;
  /** With a guard, the user's password must still be the one the caller verified. */
  const passwordStill = (guard?: Partial<PasswordGuard>) =>
    guard?.passwordHash ? sql`and password_hash = ${guard.passwordHash}` : sql``;
  return {
    ...createPostgresLoginAttempts(sql, "login_attempts"),
    atomically: (work) => inTransaction(sql, (tx) => work(createPostgresUsersStore(tx), tx)),
    async createUser(u: NewUser) {
      try {
        const [row] = await sql<UserRow[]>`
          insert into users (id, email, password_hash, google_uid, first_name, last_name, location,
                             avatar_url, notifications_opt_in, email_verified, time_zone)
          values (${u.id}, ${u.email}, ${u.passwordHash}, ${u.googleUid}, ${u.firstName}, ${u.lastName},
                  ${u.location}, ${u.avatarUrl}, ${u.notificationsOptIn}, ${u.emailVerified}, ${u.timeZone})
          returning *`;
        return toUser(row!);
      } catch (err) {
        throw takenError(err);
      }
    },

    async userById(id) {
      const [row] = await sql<UserRow[]>`select * from users where id = ${id} and ${live}`;
      return row && toUser(row);
    },
    async userForUpdate(id) {
      const [row] = await sql<UserRow[]>`select * from users where id = ${id} and ${live} for update`;
      return row && toUser(row);
    },

    async userByEmail(email) {
      const [row] = await sql<UserRow[]>`select * from users where email = ${email} and ${live}`;
      return row && toUser(row);
    },

    async userByGoogleUid(uid) {
      const [row] = await sql<UserRow[]>`select * from users where google_uid = ${uid} and ${live}`;
      return row && toUser(row);
    },

    async usersByIds(ids) {
      if (ids.length === 0) return [];
      const rows = await sql<UserRow[]>`select * from users where id = any(${ids}::uuid[]) and ${live}`;
      return rows.map(toUser);
    },

    async updateUser(id, patch, expect) {
      const values: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(patch)) {
        if (value !== undefined) values[patchColumns[key as keyof ProfilePatch]] = value;
      }
      try {
        const [row] =
          Object.keys(values).length === 0
            ? await sql<UserRow[]>`select * from users where id = ${id} and ${live} ${passwordStill(expect)}`
            : await sql<UserRow[]>`
                update users set ${sql(values)}, updated_at = now()
                where id = ${id} and ${live} ${passwordStill(expect)} returning *`;
        return row && toUser(row);
      } catch (err) {
        throw takenError(err);
      }
    },

    async setAvatar(id, avatar) {
      const [row] = await sql<(UserRow & { replaced_key: string | null })[]>`
        with old as (select id, avatar_key from users where id = ${id} and ${live} for update)
        update users u set avatar_url = ${avatar?.url ?? ""}, avatar_key = ${avatar?.key ?? null},
          updated_at = now()
        from old where u.id = old.id
        returning u.*, old.avatar_key as replaced_key`;
      return row && { user: toUser(row), replacedKey: row.replaced_key };
    },

    async searchUsers(prefix, limit, after?: Cursor) {
      const pattern = likePrefix(prefix);
      const fullName = sql`lower(first_name || ' ' || last_name)`;
      const rows = await sql<UserRow[]>`
        select * from users
        where ${live}
          -- An address its owner hides is found only when typed in full (as sign-up would tell
          -- anyway), never by prefix: prefixes would spell it out a letter at a time.
          and (lower(first_name) like ${pattern} or lower(last_name) like ${pattern}
               or ${fullName} like ${pattern} or (show_email and email like ${pattern}) or email = ${prefix})
          ${after ? sql`and (${fullName}, id) > (${after.key}, ${after.id}::uuid)` : sql``}
        order by ${fullName}, id
        limit ${limit}`;
      return rows.map(toUser);
    },

    async listUsers(filter: UserFilter, limit, after?: Cursor) {
      const conditions = [live];
      if (filter.status === "blocked") conditions.push(sql`blocked_until > now()`);
      if (filter.status === "active") conditions.push(sql`(blocked_until is null or blocked_until <= now())`);
      if (filter.role) conditions.push(sql`role = ${filter.role}`);
      if (filter.query) {
        const contains = likeContains(filter.query.toLowerCase());
        conditions.push(
          sql`(lower(first_name || ' ' || last_name) like ${contains} or email like ${contains})`,
        );
      }
      if (after) conditions.push(sql`(created_at, id) < (${after.key}::timestamptz, ${after.id}::uuid)`);
      const where = conditions.reduce((acc, c) => sql`${acc} and ${c}`);
      const rows = await sql<UserRow[]>`
        select * from users where ${where} order by created_at desc, id desc limit ${limit}`;
      return rows.map(toUser);
    },

    async userFigures(from, to, now) {
      const [row] = await sql<{ total: string; blocked: string; verified: string; registered: string }[]>`
        select count(*) as total,
               count(*) filter (where blocked_until > ${now}) as blocked,
               count(*) filter (where email_verified) as verified,
               count(*) filter (where created_at >= ${from} and created_at < ${to}) as registered
        from users where ${live}`;
      const [total, blocked] = [Number(row!.total), Number(row!.blocked)];
      return {
        total,
        active: total - blocked,
        blocked,
        emailVerified: Number(row!.verified),
        registered: Number(row!.registered),
      };
    },

    async usersInIdOrder(limit, afterId) {
      const rows = await sql<UserRow[]>`
        select * from users where ${live} ${afterId ? sql`and id > ${afterId}::uuid` : sql``}
        order by id limit ${limit}`;
      return rows.map(toUser);
    },

    async createSession(userId, sessionId, expiresAt, guard) {
      // The share lock orders this with a block, a password reset or a deletion of the user:
      // either that comes first and no session starts, or it waits and then revokes this one.
      const created = await sql`
        insert into sessions (id, user_id, refresh_expires_at)
        select ${sessionId}, id, ${expiresAt} from users
        where id = ${userId} and ${live}
          and (blocked_until is null or blocked_until <= ${guard.now}) ${passwordStill(guard)}
        for share`;
      return created.count === 1;
    },

    async rotateRefreshToken(sessionId, generation, expiresAt): Promise<RotateResult> {
      return inTransaction(sql, async (tx) => {
        const [session] = await tx<
          { user_id: string; refresh_generation: number; expired: boolean; revoked: boolean }[]
        >`
          select user_id, refresh_generation, refresh_expires_at <= now() as expired,
                 revoked_at is not null as revoked
          from sessions where id = ${sessionId} for update`;
        if (!session || session.revoked) return { kind: "invalid" };
        if (generation < session.refresh_generation) return { kind: "reused" };
        if (generation > session.refresh_generation || session.expired) return { kind: "invalid" };
        await tx`update sessions set refresh_generation = ${generation + 1}, refresh_expires_at = ${expiresAt}
                 where id = ${sessionId}`;
        return { kind: "rotated", userId: session.user_id, generation: generation + 1 };
      });
    },

    async revokeSession(sessionId, reason) {
      await sql`update sessions set revoked_at = now(), revoke_reason = ${reason}
                where id = ${sessionId} and revoked_at is null`;
    },

    async deleteUser(id, event) {
      return inTransaction(sql, async (tx) => {
        const [gone] = await tx<{ email: string }[]>`
          update users u set
            email = 'deleted-' || u.id || '@deleted.invalid', password_hash = null, google_uid = null,
            first_name = 'Deleted', last_name = 'user', location = '', bio = '', avatar_url = '',
            avatar_key = null, website = '', time_zone = '', show_email = false, show_location = false,
            notifications_opt_in = false, deleted_at = now(), updated_at = now()
          from (select email from users where id = ${id} and deleted_at is null for update) old
          where u.id = ${id}
          returning old.email`;
        if (!gone) return false;
        await tx`update sessions set revoked_at = now(), revoke_reason = 'account deleted'
                 where user_id = ${id} and revoked_at is null`;
        await tx`delete from email_pins where user_id = ${id}`;
        await tx`delete from password_resets where user_id = ${id}`;
        await tx`delete from login_attempts where email = ${gone.email}`;
        await enqueueEvent(tx, event);
        return true;
      });
    },

    async revokeUserSessions(userId, reason, keep) {
      await sql`update sessions set revoked_at = now(), revoke_reason = ${reason}
                where user_id = ${userId} and revoked_at is null ${keep ? sql`and id <> ${keep}` : sql``}`;
    },

    async revokedSince(since) {
      // The read time comes from the database, whose clock stamps revoked_at.
      const rows = await sql<{ id: string | null; revoked_at: Date | null; read_at: Date }[]>`
        select s.id, s.revoked_at, t.read_at
        from (select now() as read_at) t
        left join sessions s on s.revoked_at >= ${since}
        order by s.revoked_at`;
      return {
        readAt: rows[0]!.read_at,
        sessions: rows
          .filter((r) => r.id !== null)
          .map((r) => ({ sessionId: r.id!, revokedAt: r.revoked_at! })),
      };
    },

    async userOfLiveSession(sessionId) {
      const [row] = await sql<{ user_id: string }[]>`
        select user_id from sessions where id = ${sessionId} and revoked_at is null`;
      return row?.user_id;
    },

    async sessionIsActive(userId, sessionId, now) {
      const [row] = await sql`
        select 1 from sessions s join users u on u.id = s.user_id
        where s.id = ${sessionId} and s.user_id = ${userId} and s.revoked_at is null
          and u.deleted_at is null and (u.blocked_until is null or u.blocked_until <= ${now})`;
      return row !== undefined;
    },

    async setPin(userId, pinHash, sentAt, expiresAt) {
      await sql`
        insert into email_pins (user_id, pin_hash, sent_at, expires_at)
        values (${userId}, ${pinHash}, ${sentAt}, ${expiresAt})
        on conflict (user_id) do update set pin_hash = excluded.pin_hash, sent_at = excluded.sent_at,
                                            expires_at = excluded.expires_at, attempts = 0`;
    },

    async pinSentAt(userId) {
      const [row] = await sql<{ sent_at: Date }[]>`select sent_at from email_pins where user_id = ${userId}`;
      return row?.sent_at;
    },

    async consumePin(userId, pinHash, maxAttempts): Promise<PinResult> {
      return inTransaction(sql, async (tx) => {
        const [pin] = await tx<{ pin_hash: Buffer; expired: boolean; attempts: number }[]>`
          select pin_hash, expires_at <= now() as expired, attempts from email_pins
          where user_id = ${userId} for update`;
        if (!pin) return "missing";
        if (pin.expired) {
          await tx`delete from email_pins where user_id = ${userId}`;
          return "expired";
        }
        if (pin.attempts >= maxAttempts) return "exhausted";
        if (!Buffer.from(pin.pin_hash).equals(pinHash)) {
          await tx`update email_pins set attempts = attempts + 1 where user_id = ${userId}`;
          return "wrong";
        }
        await tx`delete from email_pins where user_id = ${userId}`;
        return "ok";
      });
    },

    async createPasswordReset(userId, tokenHash, expiresAt) {
      await sql`insert into password_resets (token_hash, user_id, expires_at)
                values (${tokenHash}, ${userId}, ${expiresAt})`;
    },

    async pruneExpired(revokedKeepMs) {
      return inTransaction(sql, async (tx) => {
        const day = tx`now() - interval '1 day'`;
        const counts = [
          await tx`delete from password_resets where expires_at < ${day}`,
          await tx`delete from email_pins where expires_at < ${day}`,
          await tx`delete from login_attempts
                   where window_start < ${day} and (locked_until is null or locked_until < now())`,
          // A session whose refresh token expired has issued its last access token long before.
          await tx`delete from sessions
                   where revoked_at < now() - ${revokedKeepMs} * interval '1 millisecond'
                      or refresh_expires_at < ${day}`,
        ];
        return counts.reduce((n, r) => n + r.count, 0);
      });
    },

    async passwordResetSentWithin(userId, withinMs) {
      const [row] = await sql`
        select 1 from password_resets
        where user_id = ${userId} and created_at > now() - ${withinMs} * interval '1 millisecond' limit 1`;
      return row !== undefined;
    },

    async consumePasswordReset(tokenHash) {
      const [row] = await sql<{ user_id: string }[]>`
        update password_resets set used_at = now()
        where token_hash = ${tokenHash} and used_at is null and expires_at > now()
        returning user_id`;
      if (row) {
        await sql`update password_resets set used_at = now() where user_id = ${row.user_id} and used_at is null`;
      }
      return row?.user_id;
    },
  };
}
