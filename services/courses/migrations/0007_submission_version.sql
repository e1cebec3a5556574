-- Every change to a submission raises its version: grading and finalizing act only on the
-- hand-in (and the grades) the grader read, never on answers handed in meanwhile.
alter table submissions add column version integer not null default 1;
