-- Tasks and exams, students' submissions and their grades.

create table assessments (
  id uuid primary key,
  course_id uuid not null references courses (id) on delete cascade,
  kind smallint not null check (kind in (1, 2)),
  title text not null,
  description text not null default '',
  instructions text not null default '',
  due_time timestamptz not null,
  grace_period_minutes integer not null default 0 check (grace_period_minutes >= 0),
  late_policy smallint not null check (late_policy between 1 and 3),
  late_penalty_percent integer not null default 0 check (late_penalty_percent between 0 and 100),
  time_limit_minutes integer not null default 0 check (time_limit_minutes >= 0),
  questions jsonb not null,
  passing_score numeric(5, 2) not null default 60,
  state smallint not null default 1 check (state in (1, 2)),
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default date_trunc('milliseconds', now()),
  published_at timestamptz
);
create index assessments_course_due on assessments (course_id, due_time, id);

create table submissions (
  id uuid primary key,
  assessment_id uuid not null references assessments (id) on delete cascade,
  course_id uuid not null references courses (id) on delete cascade,
  student_id uuid not null,
  state smallint not null check (state between 1 and 4),
  answers jsonb not null default '[]',
  started_at timestamptz,
  submitted_at timestamptz,
  late boolean not null default false,
  scores jsonb not null default '[]',
  total_score numeric(10, 2) not null default 0,
  max_score numeric(10, 2) not null default 0,
  grade_percent numeric(6, 2),
  passed boolean,
  feedback text not null default '',
  pending_question_ids text[] not null default '{}',
  graded_at timestamptz,
  finalized_at timestamptz,
  unique (assessment_id, student_id)
);
create index submissions_assessment on submissions (assessment_id, submitted_at, id);
create index submissions_student on submissions (student_id, assessment_id);
create index submissions_course_time on submissions (course_id, submitted_at);
