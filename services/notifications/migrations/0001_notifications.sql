-- Events accepted for delivery, their deliveries, the in-app inbox, preferences and devices.

create table events (
  id uuid primary key,
  event_type text not null,
  recipients jsonb not null,
  data jsonb not null default '{}',
  system boolean not null default false,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  expanded_at timestamptz,
  next_attempt_at timestamptz not null default now(),
  attempts integer not null default 0,
  last_error text
);
create index events_pending on events (next_attempt_at) where expanded_at is null;

create table deliveries (
  id uuid primary key,
  event_id uuid not null references events (id) on delete cascade,
  event_type text not null,
  channel smallint not null check (channel between 1 and 3),
  recipient_id text not null default '',
  address text not null,
  status smallint not null check (status between 1 and 4),
  reason text not null default '',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  payload jsonb not null default '{}',
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now(),
  unique (event_id, channel, recipient_id, address)
);
create index deliveries_pending on deliveries (next_attempt_at) where status = 4;
create index deliveries_log on deliveries (created_at desc, id desc);
create index deliveries_recipient on deliveries (recipient_id, created_at desc);

create table inbox (
  id uuid primary key,
  user_id uuid not null,
  event_id uuid not null,
  event_type text not null,
  title text not null,
  body text not null,
  link text not null default '',
  read boolean not null default false,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  unique (event_id, user_id)
);
create index inbox_user on inbox (user_id, created_at desc, id desc);
create index inbox_unread on inbox (user_id) where not read;

create table preferences (
  user_id uuid primary key,
  preferences jsonb not null,
  updated_at timestamptz not null default now()
);

create table devices (
  token text primary key,
  user_id uuid not null,
  platform smallint not null,
  updated_at timestamptz not null default now()
);
create index devices_user on devices (user_id);
