-- Long polls of ListRevokedSessions wake when a session is revoked, in any replica:
-- NOTIFY is delivered on commit, once per transaction however many rows it revokes.
create function notify_session_revoked() returns trigger language plpgsql as $$
begin
  perform pg_notify('classconnect_session_revoked', '');
  return null;
end
$$;
create trigger sessions_revoked after update of revoked_at on sessions
  for each row when (old.revoked_at is null and new.revoked_at is not null)
  execute function notify_session_revoked();
