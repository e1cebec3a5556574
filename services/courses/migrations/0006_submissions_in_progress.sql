-- Exam attempts still open, for the sweep that hands in those whose time is up.
create index submissions_in_progress on submissions (started_at) where state = 1;
