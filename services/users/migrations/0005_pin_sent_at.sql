-- When the live PIN was sent: another is sent only after a cooldown (a resend e-mails the
-- address, which need not be the caller's own).
alter table email_pins add column sent_at timestamptz not null default now();
