-- Transactional outbox: events written in the same transaction as the change
-- that causes them, relayed to the notifications service at least once.
create table outbox (
  id uuid primary key,
  event_type text not null,
  recipients jsonb not null,
  data jsonb not null default '{}',
  created_at timestamptz not null default now(),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  published_at timestamptz,
  last_error text
);
create index outbox_pending on outbox (next_attempt_at) where published_at is null;
