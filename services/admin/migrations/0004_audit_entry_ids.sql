-- Entries other services record for an administrator's change there (users: block, unblock,
-- role) arrive through their outbox, at least once: the event's id makes the append idempotent.
alter table audit_entries add column entry_id uuid unique;
