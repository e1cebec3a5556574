-- The revocation feed (AuthService.WatchRevokedSessions) reads sessions by revocation time.
create index sessions_revoked_at on sessions (revoked_at) where revoked_at is not null;
