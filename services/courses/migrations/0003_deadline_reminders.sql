-- Deadline reminders: when the reminder for an assessment's due time was recorded (once per
-- due time: moving the due time clears it). The partial index holds only what may still need one.
alter table assessments add column reminded_at timestamptz;
create index assessments_reminder_due on assessments (due_time) where state = 2 and reminded_at is null;
