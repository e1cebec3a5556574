-- Users, sessions and the one-time secrets of the users service.

create table users (
  id uuid primary key,
  email text not null unique check (email = lower(email) and length(email) between 3 and 254),
  password_hash text,
  google_uid text unique,
  first_name text not null check (length(first_name) <= 100),
  last_name text not null check (length(last_name) <= 100),
  location text not null default '' check (length(location) <= 200),
  bio text not null default '' check (length(bio) <= 2000),
  avatar_url text not null default '',
  avatar_key text,
  education_level smallint not null default 0 check (education_level between 0 and 6),
  website text not null default '',
  show_email boolean not null default false,
  show_location boolean not null default true,
  notifications_opt_in boolean not null default false,
  email_verified boolean not null default false,
  role smallint not null default 1 check (role in (1, 2)),
  blocked_until timestamptz,
  block_reason text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz
);

-- Prefix search on names and e-mail (SearchUsers, ListUsers).
create index users_first_name_prefix on users (lower(first_name) text_pattern_ops);
create index users_last_name_prefix on users (lower(last_name) text_pattern_ops);
create index users_full_name_prefix on users (lower(first_name || ' ' || last_name) text_pattern_ops);
create index users_email_prefix on users (email text_pattern_ops);
create index users_created on users (created_at desc, id desc);

-- Failed logins per e-mail (known or not, so lockout reveals nothing).
create table login_attempts (
  email text primary key,
  failures integer not null default 0,
  window_start timestamptz not null default now(),
  locked_until timestamptz
);

-- A login session; access tokens carry its id (sid). Refresh tokens rotate within it.
create table sessions (
  id uuid primary key,
  user_id uuid not null references users (id) on delete cascade,
  created_at timestamptz not null default now(),
  revoked_at timestamptz,
  revoke_reason text
);
create index sessions_user on sessions (user_id) where revoked_at is null;

create table refresh_tokens (
  token_hash bytea primary key,
  session_id uuid not null references sessions (id) on delete cascade,
  expires_at timestamptz not null,
  used_at timestamptz,
  created_at timestamptz not null default now()
);
create index refresh_tokens_session on refresh_tokens (session_id);

-- Activation PINs: one live PIN per user.
create table email_pins (
  user_id uuid primary key references users (id) on delete cascade,
  pin_hash bytea not null,
  expires_at timestamptz not null,
  attempts integer not null default 0
);

create table password_resets (
  token_hash bytea primary key,
  user_id uuid not null references users (id) on delete cascade,
  expires_at timestamptz not null,
  used_at timestamptz,
  created_at timestamptz not null default now()
);
create index password_resets_user on password_resets (user_id);
