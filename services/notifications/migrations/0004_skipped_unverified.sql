-- Deliveries not sent because the recipient has not confirmed their e-mail address (6).
alter table deliveries drop constraint deliveries_status_check;
alter table deliveries add constraint deliveries_status_check check (status between 1 and 6);
