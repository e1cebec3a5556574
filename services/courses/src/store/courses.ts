import {
  type Cursor,
  enqueueEvent,
  enqueueEvents,
  FailedPreconditionError,
  inTransaction,
  likeContains,
  NotFoundError,
  type OutboxEvent,
  type Sql,
  type TransactionSql,
} from "@classconnect/platform";
import {
  type Course,
  type CourseFields,
  type CourseView,
  courseReadOnly,
  gradedStrangers,
  type Prerequisite,
} from "../domain/model.js";
import { type Activity, logActivity } from "./staff.js";

/** Columns of a course row, with its prerequisites, as `Course` fields. */
export const courseColumns = (sql: Sql | TransactionSql) => sql`
  c.id, c.owner_id, c.title, c.description, c.objectives, c.syllabus, c.category, c.level, c.modality,
  c.capacity, c.start_time, c.end_time, c.enrollment_deadline, c.picture_url, c.picture_key,
  c.passing_grade::float8 as passing_grade,
  c.min_education_level, c.state, c.enrolled_count, c.version, c.created_at, c.updated_at,
  array(select p.prerequisite_id from course_prerequisites p where p.course_id = c.id order by 1) as prerequisite_ids`;

/**
 * Whether `studentId` has passed the course `pc`: it finished, and their final grade
 * reaches its passing grade.
 */
export const passedBy = (sql: Sql | TransactionSql, studentId: string) => sql`(pc.state = 2 and exists (
  select 1 from enrollments e
  where e.course_id = pc.id and e.student_id = ${studentId}
    and e.final_grade is not null and e.final_grade >= pc.passing_grade))`;

export interface CourseRow {
  id: string;
  owner_id: string;
  title: string;
  description: string;
  objectives: string[];
  syllabus: string;
  category: string;
  level: number;
  modality: number;
  capacity: number;
  start_time: Date;
  end_time: Date;
  enrollment_deadline: Date;
  picture_url: string;
  picture_key: string | null;
  passing_grade: number;
  min_education_level: number;
  state: number;
  enrolled_count: number;
  version: number;
  created_at: Date;
  updated_at: Date;
  prerequisite_ids: string[];
}

/**
 * Keeps the course running until the transaction ends, for a student's write: FinishCourse
 * and DeleteCourse wait for it, and a write that waited for either is refused
 * (COURSE_FINISHED, or the course is not found). A transaction that goes on to update the
 * course row takes it `forUpdate`: two that took a share lock first would deadlock there.
 */
export async function lockRunning(tx: TransactionSql, courseId: string, forUpdate = false): Promise<void> {
  const [row] = await tx<{ state: number }[]>`
    select state from courses where id = ${courseId} and deleted_at is null
    ${forUpdate ? tx`for no key update` : tx`for share`}`;
  if (!row) throw new NotFoundError("course");
  if (row.state !== 1) throw courseReadOnly();
}

export function toCourse(r: CourseRow): Course {
  return {
    id: r.id,
    ownerId: r.owner_id,
    title: r.title,
    description: r.description,
    objectives: r.objectives,
    syllabus: r.syllabus,
    category: r.category,
    level: r.level,
    modality: r.modality,
    capacity: r.capacity,
    startTime: r.start_time,
    endTime: r.end_time,
    enrollmentDeadline: r.enrollment_deadline,
    pictureUrl: r.picture_url,
    pictureKey: r.picture_key,
    passingGrade: r.passing_grade,
    prerequisiteIds: r.prerequisite_ids,
    minEducationLevel: r.min_education_level,
    state: r.state,
    enrolledCount: r.enrolled_count,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

type ViewRow = CourseRow & {
  caller_enrolled: boolean;
  caller_role: CourseView["callerRole"];
  caller_final_grade: number | null;
};

/** The course with the caller's relation to it, added to the same object (a spread copy cost 3 µs per row). */
const toView = (r: ViewRow): CourseView => {
  const view = toCourse(r) as CourseView;
  view.callerEnrolled = r.caller_enrolled;
  view.callerRole = r.caller_role;
  view.callerFinalGrade = r.caller_final_grade ?? undefined;
  return view;
};

const fieldColumns = {
  title: "title",
  description: "description",
  objectives: "objectives",
  syllabus: "syllabus",
  category: "category",
  level: "level",
  modality: "modality",
  capacity: "capacity",
  startTime: "start_time",
  endTime: "end_time",
  enrollmentDeadline: "enrollment_deadline",
  pictureUrl: "picture_url",
  passingGrade: "passing_grade",
  minEducationLevel: "min_education_level",
} as const satisfies Record<Exclude<keyof CourseFields, "prerequisiteIds">, string>;

export type CatalogOrder = "start_time" | "create_time desc" | "title" | "seats_left desc";

export interface CatalogFilter {
  keyword?: string;
  category?: string;
  level?: number;
  modality?: number;
  startAfter?: Date;
  startBefore?: Date;
  includeClosed: boolean;
}

export interface MyCoursesFilter {
  role?: "student" | "teacher";
  state?: number;
  name?: string;
  startAfter?: Date;
}

/**
 * A keyword as a text-search query, as typed into a search box: every word of it must be
 * a word of the title or description, the last one only its beginning ("quantum phy" and
 * "alg" find "Quantum Physics" and "Algebra"). Words are runs of letters and digits, as the
 * `simple` configuration splits them, so nothing in the keyword is read as query syntax;
 * undefined for a keyword without any (it matches nothing).
 */
export function prefixQuery(keyword: string): string | undefined {
  const words = keyword.toLowerCase().match(/[\p{L}\p{N}]+/gu);
  return words?.map((w, i) => (i === words.length - 1 ? `'${w}':*` : `'${w}'`)).join(" & ");
}

/** The sort key expression, its direction and how its cursor value is typed. */
const orders: Record<CatalogOrder, { key: string; desc: boolean; cast: string }> = {
  start_time: { key: "c.start_time", desc: false, cast: "timestamptz" },
  "create_time desc": { key: "c.created_at", desc: true, cast: "timestamptz" },
  title: { key: "lower(c.title)", desc: false, cast: "text" },
  "seats_left desc": { key: "(c.capacity - c.enrolled_count)", desc: true, cast: "integer" },
};

export function createCourseStore(sql: Sql) {
  const roleOf = (caller: string) => sql`
    case when c.owner_id = ${caller} then 'owner'
         when exists (select 1 from assistants a where a.course_id = c.id and a.user_id = ${caller}) then 'assistant'
         when exists (select 1 from enrollments e where e.course_id = c.id and e.student_id = ${caller}) then 'student'
         else 'none' end as caller_role,
    exists (select 1 from enrollments e where e.course_id = c.id and e.student_id = ${caller}) as caller_enrolled,
    case when c.state = 2 then (
      select e.final_grade::float8 from enrollments e where e.course_id = c.id and e.student_id = ${caller}
    ) end as caller_final_grade`;

  async function setPrerequisites(tx: TransactionSql, courseId: string, ids: string[]) {
    await tx`delete from course_prerequisites where course_id = ${courseId}`;
    if (ids.length > 0) {
      await tx`insert into course_prerequisites ${tx(ids.map((id) => ({ course_id: courseId, prerequisite_id: id })))}`;
    }
  }

  /**
   * Replaces an existing course's prerequisites unless that would close a loop (A needs B,
   * B needs A: no one could ever enroll in either). Deleted courses count for nothing, as at
   * enrollment. Changes to prerequisites take turns
   * (a transaction lock), so two changes at once cannot each close half of a loop.
   * Returns the new prerequisites that lead back to the course, if any (nothing changes).
   */
  async function replacePrerequisites(tx: TransactionSql, courseId: string, ids: string[]) {
    await tx`select pg_advisory_xact_lock(hashtext('classconnect.course_prerequisites'))`;
    const loops = await tx<{ start: string }[]>`
      with recursive reach(start, id) as (
        select s, s from unnest(${ids}::uuid[]) as s
        union
        select r.start, p.prerequisite_id from reach r
          join course_prerequisites p on p.course_id = r.id and p.course_id <> ${courseId}
          join courses c on c.id = p.prerequisite_id and c.deleted_at is null
      )
      select distinct start from reach where id = ${courseId} order by 1`;
    if (loops.length > 0) return loops.map((l) => l.start);
    await setPrerequisites(tx, courseId, ids);
    return [];
  }

  return {
    /** The live (not deleted) courses among `ids`. */
    /** The first `limit` courses `ownerId` owns that have not finished, by title, and how many in all. */
    async ownedActive(
      ownerId: string,
      limit: number,
    ): Promise<{ courses: { courseId: string; title: string }[]; total: number }> {
      const rows = await sql<{ id: string; title: string; total: number }[]>`
        select id, title, count(*) over ()::int as total from courses
        where owner_id = ${ownerId} and state = 1 and deleted_at is null
        order by lower(title), id limit ${limit}`;
      return { courses: rows.map((r) => ({ courseId: r.id, title: r.title })), total: rows[0]?.total ?? 0 };
    },

    /**
     * A deleted account: its assistant roles, favorites and seats in courses still running go
     * (the seat goes back to the course); finished courses keep their records and grades.
     */
    async forgetUser(userId: string): Promise<void> {
      await inTransaction(sql, async (tx) => {
        await tx`delete from assistants where user_id = ${userId}`;
        await tx`delete from favorites where user_id = ${userId}`;
        await tx`
          with gone as (
            delete from enrollments e using courses c
            where e.student_id = ${userId} and c.id = e.course_id and c.state = 1
            returning e.course_id)
          update courses set enrolled_count = enrolled_count - 1 where id in (select course_id from gone)`;
      });
    },

    async existingIds(ids: string[]): Promise<string[]> {
      if (ids.length === 0) return [];
      const rows = await sql<{ id: string }[]>`
        select id from courses where id = any(${ids}::uuid[]) and deleted_at is null`;
      return rows.map((r) => r.id);
    },

    async create(id: string, ownerId: string, f: CourseFields): Promise<Course> {
      return inTransaction(sql, async (tx) => {
        await tx`
          insert into courses (id, owner_id, title, description, objectives, syllabus, category, level, modality,
                               capacity, start_time, end_time, enrollment_deadline, picture_url, passing_grade,
                               min_education_level)
          values (${id}, ${ownerId}, ${f.title}, ${f.description}, ${f.objectives}, ${f.syllabus}, ${f.category},
                  ${f.level}, ${f.modality}, ${f.capacity}, ${f.startTime}, ${f.endTime}, ${f.enrollmentDeadline},
                  ${f.pictureUrl}, ${f.passingGrade}, ${f.minEducationLevel})`;
        await setPrerequisites(tx, id, f.prerequisiteIds);
        const [row] = await tx<CourseRow[]>`select ${courseColumns(tx)} from courses c where c.id = ${id}`;
        return toCourse(row!);
      });
    },

    async get(id: string): Promise<Course | undefined> {
      const [row] = await sql<CourseRow[]>`
        select ${courseColumns(sql)} from courses c where c.id = ${id} and c.deleted_at is null`;
      return row && toCourse(row);
    },

    /** Of the courses `ids`, those not deleted, by title, and whether `caller` passed each. */
    async prerequisites(ids: string[], caller: string): Promise<Prerequisite[]> {
      if (ids.length === 0) return [];
      const rows = await sql<{ id: string; title: string; passed: boolean }[]>`
        select pc.id, pc.title, ${passedBy(sql, caller)} as passed
        from courses pc where pc.id = any(${ids}::uuid[]) and pc.deleted_at is null
        order by lower(pc.title), pc.id`;
      return rows.map((r) => ({ courseId: r.id, title: r.title, passed: r.passed }));
    },

    async view(id: string, caller: string): Promise<CourseView | undefined> {
      const [row] = await sql<ViewRow[]>`
        select ${courseColumns(sql)}, ${roleOf(caller)}
        from courses c where c.id = ${id} and c.deleted_at is null`;
      return row && toView(row);
    },

    /**
     * Applies `fields` if the course is still at `version`, with the assistant's activity
     * entry in the same transaction; returns the new row, `stale` when someone else changed
     * it first, or the number enrolled when a lower `capacity` would no longer hold them (an
     * enrollment landed since the caller read the course). Records the notice `tell` makes
     * from the updated course, if any, for its students in the same transaction.
     */
    async update(
      id: string,
      version: number,
      fields: Partial<CourseFields>,
      activity?: Activity,
      tell?: (updated: Course) => Omit<OutboxEvent, "recipients"> | undefined,
    ): Promise<Course | "stale" | { enrolled: number } | undefined> {
      return inTransaction(sql, async (tx) => {
        const values: Record<string, unknown> = {};
        for (const [key, column] of Object.entries(fieldColumns)) {
          const value = fields[key as keyof typeof fieldColumns];
          if (value !== undefined) values[column] = value;
        }
        values["updated_at"] = new Date();
        // A picture given by URL replaces any uploaded one (the caller deletes its file).
        if (fields.pictureUrl !== undefined) values["picture_key"] = null;
        const [updated] = await tx<{ id: string }[]>`
          update courses set ${tx(values)}, version = version + 1
          where id = ${id} and version = ${version} and deleted_at is null
            ${fields.capacity === undefined ? tx`` : tx`and enrolled_count <= ${fields.capacity}`}
          returning id`;
        if (!updated) {
          const [now] = await tx<{ version: number; enrolled_count: number }[]>`
            select version, enrolled_count from courses where id = ${id} and deleted_at is null`;
          if (!now) return undefined;
          // Enrollments change the count, not the version.
          if (now.version === version) return { enrolled: now.enrolled_count };
          return "stale";
        }
        if (fields.prerequisiteIds) {
          const loops = await replacePrerequisites(tx, id, fields.prerequisiteIds);
          if (loops.length > 0) {
            throw new FailedPreconditionError(
              `these prerequisites already require this course, directly or through others: ${loops.join(", ")}`,
              "PREREQUISITE_CYCLE",
              { course_ids: loops.join(",") },
            );
          }
        }
        if (activity) await logActivity(tx, activity);
        const [row] = await tx<CourseRow[]>`select ${courseColumns(tx)} from courses c where c.id = ${id}`;
        const course = toCourse(row!);
        // Enrollments wait for this row's lock: its count is the roster the notice reaches.
        const notice = tell?.(course);
        if (notice) await enqueueEvent(tx, { ...notice, recipients: { courseId: id } });
        return course;
      });
    },

    /**
     * Sets an uploaded picture; returns the key of the uploaded picture it replaces (null
     * for none), or undefined when the course is gone.
     */
    async setPicture(
      id: string,
      url: string,
      key: string,
      activity?: Activity,
    ): Promise<string | null | undefined> {
      return inTransaction(sql, async (tx) => {
        const [row] = await tx<{ previous: string | null }[]>`
          with old as (select picture_key from courses where id = ${id} and deleted_at is null for update)
          update courses c set picture_url = ${url}, picture_key = ${key}, version = c.version + 1,
            updated_at = now()
          from old where c.id = ${id}
          returning old.picture_key as previous`;
        if (!row) return undefined;
        if (activity) await logActivity(tx, activity);
        return row.previous;
      });
    },

    /**
     * Deletes the course at `version`, recording `notice` in the same transaction for its
     * students (recipients by course) and its assistants.
     */
    async softDelete(
      id: string,
      version: number,
      notice: Omit<OutboxEvent, "recipients">,
    ): Promise<"deleted" | "stale" | "missing"> {
      return inTransaction(sql, async (tx) => {
        const [row] = await tx`
          update courses set deleted_at = now() where id = ${id} and version = ${version} and deleted_at is null
          returning id`;
        if (row) {
          const assistants = await tx<
            { user_id: string }[]
          >`select user_id from assistants where course_id = ${id}`;
          const userIds = assistants.map((a) => a.user_id);
          await enqueueEvent(tx, { ...notice, recipients: { courseId: id, userIds } });
          return "deleted";
        }
        const [exists] = await tx`select 1 from courses where id = ${id} and deleted_at is null`;
        return exists ? "stale" : "missing";
      });
    },

    /**
     * Finishes a running course and stores final grades, in one transaction; undefined when
     * the course is not running (a finish that raced this one got there first). Refused
     * (STUDENT_NOT_ENROLLED) when a graded student left since the caller checked: once the
     * course row is locked here, students' own writes wait for it (see `lockRunning`).
     * Records the notices `tell` makes from the finished course and its students with their
     * final grades (null for none), in the same transaction.
     */
    async finish(
      id: string,
      grades: { studentId: string; grade: number }[],
      tell: (course: Course, students: { studentId: string; finalGrade: number | null }[]) => OutboxEvent[],
    ): Promise<Course | undefined> {
      return inTransaction(sql, async (tx) => {
        const [finished] = await tx`
          update courses set state = 2, finished_at = now(), version = version + 1, updated_at = now()
          where id = ${id} and state = 1 and deleted_at is null returning id`;
        if (!finished) return undefined;
        if (grades.length > 0) {
          const graded = await tx<{ student_id: string }[]>`
            update enrollments e set final_grade = g.grade
            from unnest(${grades.map((g) => g.studentId)}::uuid[], ${grades.map((g) => g.grade)}::numeric[])
              as g(student_id, grade)
            where e.course_id = ${id} and e.student_id = g.student_id
            returning e.student_id`;
          const kept = new Set(graded.map((r) => r.student_id));
          const left = grades.map((g) => g.studentId).filter((s) => !kept.has(s));
          if (left.length > 0) throw gradedStrangers(left);
        }
        const [row] = await tx<CourseRow[]>`select ${courseColumns(tx)} from courses c where c.id = ${id}`;
        const course = toCourse(row!);
        const students = await tx<{ student_id: string; final_grade: number | null }[]>`
          select student_id, final_grade::float8 as final_grade from enrollments
          where course_id = ${id} order by enrolled_at, student_id`;
        await enqueueEvents(
          tx,
          tell(
            course,
            students.map((s) => ({ studentId: s.student_id, finalGrade: s.final_grade })),
          ),
        );
        return course;
      });
    },

    /**
     * Makes a finished course running again, recording the notice `tell` makes from it, if
     * any, for its students in the same transaction; undefined when it is not finished.
     */
    async reopen(
      id: string,
      tell: (course: Course) => Omit<OutboxEvent, "recipients"> | undefined,
    ): Promise<Course | undefined> {
      return inTransaction(sql, async (tx) => {
        const [reopened] = await tx`
          update courses set state = 1, finished_at = null, version = version + 1, updated_at = now()
          where id = ${id} and state = 2 and deleted_at is null returning id`;
        if (!reopened) return undefined;
        const [row] = await tx<CourseRow[]>`select ${courseColumns(tx)} from courses c where c.id = ${id}`;
        const course = toCourse(row!);
        const notice = tell(course);
        if (notice) await enqueueEvent(tx, { ...notice, recipients: { courseId: id } });
        return course;
      });
    },

    /** The catalog: filters, one of four orders, keyset pagination. */
    async catalog(
      caller: string,
      filter: CatalogFilter,
      orderBy: CatalogOrder,
      limit: number,
      after?: Cursor,
    ) {
      const order = orders[orderBy];
      const conditions = [sql`c.deleted_at is null`];
      if (!filter.includeClosed) conditions.push(sql`c.state = 1 and c.enrollment_deadline > now()`);
      if (filter.keyword) {
        const query = prefixQuery(filter.keyword);
        conditions.push(query ? sql`c.search @@ to_tsquery('simple', ${query})` : sql`false`);
      }
      if (filter.category) conditions.push(sql`c.category = ${filter.category}`);
      if (filter.level) conditions.push(sql`c.level = ${filter.level}`);
      if (filter.modality) conditions.push(sql`c.modality = ${filter.modality}`);
      if (filter.startAfter) conditions.push(sql`c.start_time >= ${filter.startAfter}`);
      if (filter.startBefore) conditions.push(sql`c.start_time < ${filter.startBefore}`);
      if (after) {
        const key = sql.unsafe(order.key);
        const value = sql`${after.key}::${sql.unsafe(order.cast)}`;
        conditions.push(
          order.desc
            ? sql`(${key}, c.id) < (${value}, ${after.id}::uuid)`
            : sql`(${key}, c.id) > (${value}, ${after.id}::uuid)`,
        );
      }
      const where = conditions.reduce((a, b) => sql`${a} and ${b}`);
      const direction = order.desc ? "desc" : "asc";
      const rows = await sql<(ViewRow & { sort_key: string | number | Date })[]>`
        select ${courseColumns(sql)}, ${roleOf(caller)}, ${sql.unsafe(order.key)} as sort_key
        from courses c
        where ${where}
        order by ${sql.unsafe(`${order.key} ${direction}, c.id ${direction}`)}
        limit ${limit}`;
      return rows.map((r) => ({ view: toView(r), sortKey: r.sort_key }));
    },

    /** The caller's courses as student and/or teacher, by start time. */
    async mine(caller: string, filter: MyCoursesFilter, limit: number, after?: Cursor) {
      const student = sql`exists (select 1 from enrollments e where e.course_id = c.id and e.student_id = ${caller})`;
      const teacher = sql`(c.owner_id = ${caller} or exists (
        select 1 from assistants a where a.course_id = c.id and a.user_id = ${caller}))`;
      const conditions = [sql`c.deleted_at is null`];
      if (filter.role === "student") conditions.push(student);
      else if (filter.role === "teacher") conditions.push(teacher);
      else conditions.push(sql`(${student} or ${teacher})`);
      if (filter.state) conditions.push(sql`c.state = ${filter.state}`);
      if (filter.name) {
        conditions.push(sql`lower(c.title) like ${likeContains(filter.name.toLowerCase())}`);
      }
      if (filter.startAfter) conditions.push(sql`c.start_time >= ${filter.startAfter}`);
      if (after) conditions.push(sql`(c.start_time, c.id) > (${after.key}::timestamptz, ${after.id}::uuid)`);
      const where = conditions.reduce((a, b) => sql`${a} and ${b}`);
      const rows = await sql<ViewRow[]>`
        select ${courseColumns(sql)}, ${roleOf(caller)} from courses c
        where ${where} order by c.start_time, c.id limit ${limit}`;
      return rows.map(toView);
    },

    async addFavorite(userId: string, courseId: string): Promise<void> {
      await sql`insert into favorites (user_id, course_id) values (${userId}, ${courseId}) on conflict do nothing`;
    },

    async removeFavorite(userId: string, courseId: string): Promise<boolean> {
      const rows =
        await sql`delete from favorites where user_id = ${userId} and course_id = ${courseId} returning 1`;
      return rows.length > 0;
    },

    async favorites(
      userId: string,
      filter: { category?: string; name?: string },
      limit: number,
      after?: Cursor,
    ) {
      const conditions = [sql`f.user_id = ${userId}`, sql`c.deleted_at is null`];
      if (filter.category) conditions.push(sql`c.category = ${filter.category}`);
      if (filter.name) {
        conditions.push(sql`lower(c.title) like ${likeContains(filter.name.toLowerCase())}`);
      }
      if (after)
        conditions.push(sql`(f.created_at, f.course_id) < (${after.key}::timestamptz, ${after.id}::uuid)`);
      const where = conditions.reduce((a, b) => sql`${a} and ${b}`);
      const rows = await sql<(ViewRow & { favorited_at: Date })[]>`
        select ${courseColumns(sql)}, ${roleOf(userId)}, f.created_at as favorited_at
        from favorites f join courses c on c.id = f.course_id
        where ${where} order by f.created_at desc, f.course_id desc limit ${limit}`;
      return rows.map((r) => ({ view: toView(r), favoritedAt: r.favorited_at }));
    },
  };
}

export type CourseStore = ReturnType<typeof createCourseStore>;
