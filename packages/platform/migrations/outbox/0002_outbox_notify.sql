-- The relay wakes when an event is recorded (in any replica) instead of polling:
-- NOTIFY is delivered on commit, once per transaction however many rows it inserts.
create function notify_outbox() returns trigger language plpgsql as $$
begin
  perform pg_notify('classconnect_outbox', '');
  return null;
end
$$;
create trigger outbox_recorded after insert on outbox
  for each statement execute function notify_outbox();
