-- With NOTIFICATIONS_RETENTION_DAYS set, old inbox items and finished events are deleted hourly.
create index inbox_created on inbox (created_at);
create index events_expanded on events (expanded_at) where expanded_at is not null;
