-- Courses, enrollment, staff, modules, favorites and feedback.

create table courses (
  id uuid primary key,
  owner_id uuid not null,
  title text not null check (length(title) between 3 and 200),
  description text not null,
  objectives text[] not null default '{}',
  syllabus text not null default '',
  category text not null,
  level smallint not null check (level between 1 and 3),
  modality smallint not null check (modality between 1 and 2),
  capacity integer not null check (capacity >= 1),
  start_time timestamptz not null,
  end_time timestamptz not null,
  enrollment_deadline timestamptz not null,
  picture_url text not null default '',
  passing_grade numeric(5, 2) not null default 60 check (passing_grade between 0 and 100),
  min_education_level smallint not null default 0,
  state smallint not null default 1 check (state in (1, 2)),
  enrolled_count integer not null default 0,
  version integer not null default 1,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  updated_at timestamptz not null default now(),
  finished_at timestamptz,
  deleted_at timestamptz,
  search tsvector generated always as (
    setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', description), 'B')
  ) stored,
  check (end_time > start_time),
  check (enrollment_deadline <= end_time),
  -- Capacity is never exceeded: the count moves only inside enrollment transactions.
  check (enrolled_count between 0 and capacity)
);

-- Catalog access paths (ListCourses): default order, other orders, filters and search.
create index courses_catalog_start on courses (start_time, id) where deleted_at is null;
create index courses_catalog_created on courses (created_at desc, id desc) where deleted_at is null;
create index courses_catalog_title on courses (lower(title), id) where deleted_at is null;
create index courses_catalog_seats on courses ((capacity - enrolled_count) desc, id desc) where deleted_at is null;
create index courses_category on courses (category, start_time, id) where deleted_at is null;
create index courses_search on courses using gin (search) where deleted_at is null;
create index courses_owner on courses (owner_id, start_time, id) where deleted_at is null;

create table course_prerequisites (
  course_id uuid not null references courses (id) on delete cascade,
  prerequisite_id uuid not null references courses (id),
  primary key (course_id, prerequisite_id),
  check (course_id <> prerequisite_id)
);

create table enrollments (
  course_id uuid not null references courses (id) on delete cascade,
  student_id uuid not null,
  enrolled_at timestamptz not null default date_trunc('milliseconds', now()),
  final_grade numeric(5, 2) check (final_grade between 0 and 100),
  primary key (course_id, student_id)
);
create index enrollments_student on enrollments (student_id, course_id);
create index enrollments_course_time on enrollments (course_id, enrolled_at, student_id);

create table assistants (
  course_id uuid not null references courses (id) on delete cascade,
  user_id uuid not null,
  permissions smallint[] not null check (cardinality(permissions) >= 1),
  added_at timestamptz not null default date_trunc('milliseconds', now()),
  primary key (course_id, user_id)
);
create index assistants_user on assistants (user_id, course_id);

create table activity_log (
  id uuid primary key,
  course_id uuid not null references courses (id) on delete cascade,
  actor_id uuid not null,
  action text not null,
  resource_type text not null,
  resource_id text not null,
  created_at timestamptz not null default date_trunc('milliseconds', now())
);
create index activity_log_course on activity_log (course_id, created_at desc, id desc);

create table modules (
  id uuid primary key,
  course_id uuid not null references courses (id) on delete cascade,
  title text not null,
  description text not null default '',
  position integer not null check (position >= 0),
  unique (course_id, position) deferrable initially deferred
);

create table resources (
  id uuid primary key,
  module_id uuid not null references modules (id) on delete cascade,
  title text not null,
  kind smallint not null check (kind between 1 and 3),
  url text not null default '',
  file_key text,
  file_name text not null default '',
  size_bytes bigint not null default 0,
  position integer not null check (position >= 0),
  unique (module_id, position) deferrable initially deferred
);

create table favorites (
  user_id uuid not null,
  course_id uuid not null references courses (id) on delete cascade,
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  primary key (user_id, course_id)
);
create index favorites_user_time on favorites (user_id, created_at desc, course_id);

create table course_feedback (
  id uuid primary key,
  course_id uuid not null references courses (id) on delete cascade,
  student_id uuid not null,
  rating smallint not null check (rating between 1 and 5),
  comment text not null default '',
  created_at timestamptz not null default date_trunc('milliseconds', now()),
  unique (course_id, student_id)
);
create index course_feedback_course on course_feedback (course_id, created_at desc, id desc);

create table student_feedback (
  id uuid primary key,
  course_id uuid not null references courses (id) on delete cascade,
  student_id uuid not null,
  author_id uuid not null,
  score numeric(5, 2) not null check (score between 0 and 100),
  comment text not null,
  created_at timestamptz not null default date_trunc('milliseconds', now())
);
create index student_feedback_student on student_feedback (student_id, created_at desc, id desc);
