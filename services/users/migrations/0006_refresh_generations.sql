-- Refresh tokens carry their session and generation under an HMAC (domain/refresh-tokens.ts):
-- a session keeps its current generation and when its refresh token expires, and a token of
-- an earlier generation is known as spent for the session's whole life without a row per
-- refresh. Tokens issued before this have no generation and stop working: their holders sign
-- in again, and their sessions go with the next pruning a day on (their access tokens expire
-- long before).
alter table sessions
  add column refresh_generation integer not null default 0 check (refresh_generation >= 0),
  add column refresh_expires_at timestamptz not null default now();
alter table sessions alter column refresh_expires_at drop default;
create index sessions_refresh_expires on sessions (refresh_expires_at);
drop table refresh_tokens;
