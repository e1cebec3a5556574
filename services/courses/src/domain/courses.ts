/** Course lifecycle, catalog, "my courses" and favorites. */
import { randomUUID } from "node:crypto";
import type { PublicProfile } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import {
  AbortedError,
  type BlobStore,
  type Cursor,
  FailedPreconditionError,
  NotFoundError,
  type OutboxEvent,
  type Page,
  pageOf,
  recordingBlobs,
  requireImage,
} from "@classconnect/platform";
import type { UsersDirectory } from "../ports/users-directory.js";
import type { CatalogFilter, CatalogOrder, CourseStore, MyCoursesFilter } from "../store/courses.js";
import type { EnrollmentStore } from "../store/enrollments.js";
import { type Access, activityOf, changedFields, requireOwner, requirePermission } from "./access.js";
import {
  type Course,
  type CourseFields,
  CourseState,
  type CourseView,
  changedTerms,
  etagOf,
  gradedStrangers,
  Modality,
  Permission,
  type Prerequisite,
} from "./model.js";

export interface CourseDeps {
  courses: CourseStore;
  enrollments: EnrollmentStore;
  access: Access;
  users: UsersDirectory;
  /** Where uploaded course pictures are stored (public keys, like avatars). */
  blobs: BlobStore;
}

/** Modalities by number, named as the contract names them ("ONLINE", "ON_SITE") in notices. */
const MODALITY_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Modality).map(([name, n]) => [n, name]),
);

/**
 * What an edit tells a course's students, made from the course as it was and is: its start,
 * end, modality and passing grade, each that changed as it is and was (and the old title
 * when the course was renamed with them). None when none of these changed, or the course has
 * no students.
 */
function changedNotice(before: Course, after: Course): Omit<OutboxEvent, "recipients"> | undefined {
  if (after.enrolledCount === 0) return undefined;
  const changed = changedTerms({
    start_time: [after.startTime.toISOString(), before.startTime.toISOString()],
    end_time: [after.endTime.toISOString(), before.endTime.toISOString()],
    modality: [MODALITY_NAMES[after.modality] ?? "", MODALITY_NAMES[before.modality] ?? ""],
    passing_grade: [String(after.passingGrade), String(before.passingGrade)],
  });
  if (Object.keys(changed).length === 0) return undefined;
  return {
    type: "COURSE_UPDATED",
    data: {
      course_id: after.id,
      course_title: after.title,
      ...(after.title !== before.title ? { previous_course_title: before.title } : {}),
      ...changed,
    },
  };
}

/**
 * What a finished course tells its students: each graded student, alone, their final grade
 * and whether it reaches the course's passing grade; the others, together, that it finished.
 */
function finishedNotices(
  course: Course,
  students: { studentId: string; finalGrade: number | null }[],
): OutboxEvent[] {
  const data = { course_id: course.id, course_title: course.title };
  const ungraded = students.filter((s) => s.finalGrade === null).map((s) => s.studentId);
  return [
    ...students.flatMap(({ studentId, finalGrade }): OutboxEvent[] =>
      finalGrade === null
        ? []
        : [
            {
              type: "COURSE_FINISHED",
              recipients: { userIds: [studentId] },
              data: {
                ...data,
                final_grade: String(finalGrade),
                passing_grade: String(course.passingGrade),
                passed: String(finalGrade >= course.passingGrade),
              },
            },
          ],
    ),
    ...(ungraded.length > 0
      ? [{ type: "COURSE_FINISHED" as const, recipients: { userIds: ungraded }, data }]
      : []),
  ];
}

export function createCourses(deps: CourseDeps) {
  const { courses } = deps;

  async function assertPrerequisites(courseId: string, ids: string[]) {
    if (ids.includes(courseId)) {
      throw new FailedPreconditionError("a course cannot be its own prerequisite", "PREREQUISITE_SELF");
    }
    const found = new Set(await courses.existingIds(ids));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) {
      throw new FailedPreconditionError(
        `prerequisite courses not found: ${missing.join(", ")}`,
        "PREREQUISITE_NOT_FOUND",
        {
          course_ids: missing.join(","),
        },
      );
    }
  }

  const asSeenBy = (course: Course, role: CourseView["callerRole"]): CourseView => ({
    ...course,
    callerRole: role,
    callerEnrolled: role === "student",
  });

  function checkEtag(course: Course, etag: string) {
    if (etag !== etagOf(course)) {
      throw new AbortedError("the course changed since you read it; reload and retry", "ETAG_MISMATCH", {
        current_etag: etagOf(course),
      });
    }
  }

  return {
    async create(ownerId: string, fields: CourseFields): Promise<CourseView> {
      const id = randomUUID();
      await assertPrerequisites(id, fields.prerequisiteIds);
      return asSeenBy(await courses.create(id, ownerId, fields), "owner");
    },

    /** A course with its teacher's public profile. */
    async get(
      courseId: string,
      caller: string,
    ): Promise<{ view: CourseView; teacher?: PublicProfile; prerequisites: Prerequisite[] }> {
      const view = await courses.view(courseId, caller);
      if (!view) throw new NotFoundError("course");
      const [profiles, prerequisites] = await Promise.all([
        deps.users.profiles([view.ownerId]),
        courses.prerequisites(view.prerequisiteIds, caller),
      ]);
      const teacher = profiles.get(view.ownerId);
      return { view, ...(teacher ? { teacher } : {}), prerequisites };
    },

    /** The courses `ownerId` still teaches (not finished): the first 10 by title, and how many. */
    ownedActive: (ownerId: string) => courses.ownedActive(ownerId, 10),

    /** A deleted account's assistant roles and favorites go; what it did stays. */
    forgetUser: (userId: string) => courses.forgetUser(userId),

    async catalog(
      caller: string,
      filter: CatalogFilter,
      orderBy: CatalogOrder,
      limit: number,
      after?: Cursor,
    ): Promise<Page<CourseView>> {
      const rows = await courses.catalog(caller, filter, orderBy, limit + 1, after);
      const page = pageOf(rows, limit, (r) => ({
        key: r.sortKey instanceof Date ? r.sortKey.toISOString() : r.sortKey,
        id: r.view.id,
      }));
      return { items: page.items.map((r) => r.view), ...(page.next ? { next: page.next } : {}) };
    },

    /** Changes some fields, if `etag` is current; content permission required. `validate` sees the merged course. */
    async update(
      courseId: string,
      caller: string,
      etag: string,
      changes: Partial<CourseFields>,
      validate: (merged: CourseFields) => void,
    ): Promise<CourseView> {
      const access = await deps.access.load(courseId, caller);
      requirePermission(access, Permission.CONTENT);
      checkEtag(access.course, etag);
      // The contract's rules (dates in order, …) hold for the course as it would become.
      validate({ ...access.course, ...changes });
      if (changes.capacity !== undefined && changes.capacity < access.course.enrolledCount) {
        throw belowEnrolled(access.course.enrolledCount);
      }
      if (changes.prerequisiteIds) await assertPrerequisites(courseId, changes.prerequisiteIds);
      // The update matches the version read, so the course as read is the course it changes.
      const updated = await courses.update(
        courseId,
        access.course.version,
        changes,
        activityOf(access, Permission.CONTENT, "course.update", "course", courseId, changedFields(changes)),
        (after) => changedNotice(access.course, after),
      );
      if (updated === undefined) throw new NotFoundError("course");
      if (updated === "stale") {
        throw new AbortedError("the course changed since you read it; reload and retry", "ETAG_MISMATCH");
      }
      if ("enrolled" in updated) throw belowEnrolled(updated.enrolled);
      // The update matched the version read: the uploaded picture it replaced is this one.
      if (changes.pictureUrl !== undefined && access.course.pictureKey) {
        await deps.blobs.delete(access.course.pictureKey);
      }
      return asSeenBy(updated, access.role);
    },

    /** Sets the course's picture from an uploaded image; the uploaded picture it replaces is deleted. */
    async uploadPicture(courseId: string, caller: string, bytes: Uint8Array): Promise<CourseView> {
      const access = await deps.access.load(courseId, caller);
      requirePermission(access, Permission.CONTENT);
      const type = requireImage(bytes);
      const key = `courses/${courseId}/${randomUUID()}.${type.extension}`;
      const url = await deps.blobs.put(key, bytes);
      const previous = await recordingBlobs(deps.blobs, [key], () =>
        courses.setPicture(
          courseId,
          url,
          key,
          activityOf(access, Permission.CONTENT, "course.picture", "course", courseId, "uploaded a picture"),
        ),
      );
      if (previous === undefined) {
        await deps.blobs.delete(key);
        throw new NotFoundError("course");
      }
      if (previous) await deps.blobs.delete(previous);
      const view = await courses.view(courseId, caller);
      if (!view) throw new NotFoundError("course");
      return view;
    },

    /** Deletes the course (logically); its students and assistants are told. */
    async remove(courseId: string, caller: string, etag: string): Promise<void> {
      const access = await deps.access.load(courseId, caller);
      requireOwner(access);
      checkEtag(access.course, etag);
      const result = await courses.softDelete(courseId, access.course.version, {
        type: "COURSE_DELETED",
        data: { course_id: courseId, course_title: access.course.title },
      });
      if (result === "stale") throw new AbortedError("the course changed since you read it", "ETAG_MISMATCH");
      if (result === "missing") throw new NotFoundError("course");
    },

    async finish(
      courseId: string,
      caller: string,
      grades: { studentId: string; grade: number }[],
    ): Promise<Course> {
      const access = await deps.access.load(courseId, caller);
      requireOwner(access);
      if (access.course.state === CourseState.FINISHED) {
        throw new FailedPreconditionError("the course is already finished", "COURSE_FINISHED");
      }
      const strangers = await deps.enrollments.notEnrolled(
        courseId,
        grades.map((g) => g.studentId),
      );
      if (strangers.length > 0) throw gradedStrangers(strangers);
      const finished = await courses.finish(courseId, grades, finishedNotices);
      if (!finished) throw new FailedPreconditionError("the course is already finished", "COURSE_FINISHED");
      return asSeenBy(finished, "owner");
    },

    async reopen(courseId: string, caller: string): Promise<CourseView> {
      const access = await deps.access.load(courseId, caller);
      requireOwner(access);
      if (access.course.state !== CourseState.FINISHED) {
        throw new FailedPreconditionError("only a finished course can be reopened", "COURSE_NOT_FINISHED");
      }
      const reopened = await courses.reopen(courseId, (course) =>
        course.enrolledCount === 0
          ? undefined
          : { type: "COURSE_REOPENED", data: { course_id: course.id, course_title: course.title } },
      );
      if (!reopened) {
        throw new FailedPreconditionError("only a finished course can be reopened", "COURSE_NOT_FINISHED");
      }
      return asSeenBy(reopened, "owner");
    },

    async mine(
      caller: string,
      filter: MyCoursesFilter,
      limit: number,
      after?: Cursor,
    ): Promise<Page<CourseView>> {
      const rows = await courses.mine(caller, filter, limit + 1, after);
      return pageOf(rows, limit, (c) => ({ key: c.startTime.toISOString(), id: c.id }));
    },

    async addFavorite(caller: string, courseId: string): Promise<void> {
      if (!(await courses.get(courseId))) throw new NotFoundError("course");
      await courses.addFavorite(caller, courseId);
    },

    /** Unmarking is idempotent, as marking is: a retried unmark succeeds; only an unknown course is NOT_FOUND. */
    async removeFavorite(caller: string, courseId: string): Promise<void> {
      if (!(await courses.removeFavorite(caller, courseId)) && !(await courses.get(courseId))) {
        throw new NotFoundError("course");
      }
    },

    async favorites(
      caller: string,
      filter: { category?: string; name?: string },
      limit: number,
      after?: Cursor,
    ): Promise<Page<CourseView>> {
      const rows = await courses.favorites(caller, filter, limit + 1, after);
      const page = pageOf(rows, limit, (r) => ({ key: r.favoritedAt.toISOString(), id: r.view.id }));
      return { items: page.items.map((r) => r.view), ...(page.next ? { next: page.next } : {}) };
    },
  };
}

export type Courses = ReturnType<typeof createCourses>;

function belowEnrolled(enrolled: number): FailedPreconditionError {
  return new FailedPreconditionError(
    `capacity cannot be below the ${enrolled} students already enrolled`,
    "CAPACITY_BELOW_ENROLLED",
  );
}
