-- Administrators another admin has disabled: they cannot sign in, and their sessions ended.
alter table admins add column disabled_at timestamptz;
