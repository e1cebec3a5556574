-- The time zone in which a user's notices and e-mails give times ('' for UTC).
alter table users add column time_zone text not null default '' check (length(time_zone) <= 64);
