-- Keyset pagination round-trips created_at through JavaScript dates, which
-- carry milliseconds: store it at that precision so cursors compare exactly.
alter table users alter column created_at set default date_trunc('milliseconds', now());
update users set created_at = date_trunc('milliseconds', created_at)
where created_at <> date_trunc('milliseconds', created_at);
