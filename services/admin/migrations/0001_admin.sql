-- Administrators, platform rules and the tamper-evident audit log.

create table admins (
  id uuid primary key,
  email text not null unique check (email = lower(email)),
  name text not null,
  password_hash text not null,
  created_by text not null default '',
  created_at timestamptz not null default date_trunc('milliseconds', now())
);
create index admins_created on admins (created_at, id);

create table admin_login_attempts (
  email text primary key,
  failures integer not null default 0,
  window_start timestamptz not null default now(),
  locked_until timestamptz
);

create table rules (
  id uuid primary key,
  title text not null,
  description text not null,
  effective_time timestamptz not null,
  conditions text[] not null default '{}',
  created_by uuid not null,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default date_trunc('milliseconds', now())
);
create index rules_effective on rules (effective_time desc, id desc);

-- Append-only: no code path updates or deletes; each entry hashes its predecessor.
create table audit_entries (
  sequence bigint primary key,
  admin_id uuid not null,
  action text not null,
  resource_type text not null,
  resource_id text not null,
  before jsonb,
  after jsonb,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  previous_hash text not null,
  hash text not null unique
);
create index audit_admin on audit_entries (admin_id, sequence desc);
create index audit_resource on audit_entries (resource_type, resource_id, sequence desc);
create index audit_time on audit_entries (created_at);
