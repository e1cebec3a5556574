-- Admin sign-ins, so that a session can end before its token expires (logout, password change).
create table admin_sessions (
  id uuid primary key,
  admin_id uuid not null references admins (id),
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  expires_at timestamptz not null,
  revoked_at timestamptz
);
create index admin_sessions_admin on admin_sessions (admin_id, expires_at);
create index admin_sessions_revoked on admin_sessions (revoked_at) where revoked_at is not null;
