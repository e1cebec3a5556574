-- When an exam attempt's answers were last saved: an attempt handed in for the student (its
-- course finished) is late only if what it hands in was saved after the due time.
alter table submissions add column saved_at timestamptz;
