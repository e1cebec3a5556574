-- A delivery being handed to a provider is SENDING (5). If the service dies
-- before recording the answer, the delivery is not resent (it may have gone
-- out): it is logged as failed with the reason instead. No duplicates, and
-- nothing disappears without a trace.
alter table deliveries drop constraint deliveries_status_check;
alter table deliveries add constraint deliveries_status_check check (status between 1 and 5);
create index deliveries_sending on deliveries (next_attempt_at) where status = 5;
