/** A course's assistants and the log of what they do. */
import {
  AlreadyExistsError,
  type Cursor,
  FailedPreconditionError,
  NotFoundError,
  type Page,
  pageOf,
} from "@classconnect/platform";
import type { UsersDirectory } from "../ports/users-directory.js";
import type { ActivityRecord, AssistantRecord, StaffStore } from "../store/staff.js";
import { type Access, requireMember, requireOwner } from "./access.js";
import { type Course, Permission, type PermissionValue } from "./model.js";

/** How a permission reads in the notice an assistant gets. */
const permissionWords: Record<PermissionValue, string> = {
  [Permission.CONTENT]: "edit content",
  [Permission.GRADING]: "grade",
  [Permission.STUDENTS]: "manage students",
  [Permission.STATISTICS]: "view statistics",
};

export function createStaff(deps: { staff: StaffStore; access: Access; users: UsersDirectory }) {
  const { staff } = deps;
  const event = (
    type: "ASSISTANT_ADDED" | "ASSISTANT_REMOVED" | "ASSISTANT_UPDATED",
    course: Course,
    userId: string,
    extra: Record<string, string> = {},
  ) => ({
    type,
    recipients: { userIds: [userId] },
    data: { course_id: course.id, course_title: course.title, ...extra },
  });
  return {
    async add(
      courseId: string,
      caller: string,
      userId: string,
      permissions: PermissionValue[],
    ): Promise<AssistantRecord> {
      const access = await deps.access.load(courseId, caller);
      requireOwner(access);
      if (userId === caller) throw new AlreadyExistsError("you own this course", "ALREADY_OWNER");
      const standing = await deps.users.standing(userId);
      if (!standing.exists) throw new NotFoundError("user");
      if (!standing.active) throw new FailedPreconditionError("this user is blocked", "USER_BLOCKED");
      const isStudent = () =>
        new FailedPreconditionError("this user is enrolled as a student of the course", "USER_IS_STUDENT");
      if ((await deps.access.load(courseId, userId)).role === "student") throw isStudent();
      // Checked again where it is written: an enrollment at the same moment would make them both.
      const added = await staff.add(
        courseId,
        userId,
        permissions,
        event("ASSISTANT_ADDED", access.course, userId),
      );
      if (added === "student") throw isStudent();
      if (!added) throw new NotFoundError("course");
      return added;
    },

    async update(courseId: string, caller: string, userId: string, permissions: PermissionValue[]) {
      const access = await deps.access.load(courseId, caller);
      requireOwner(access);
      const updated = await staff.update(
        courseId,
        userId,
        permissions,
        event("ASSISTANT_UPDATED", access.course, userId, {
          permissions: [...new Set(permissions)]
            .sort()
            .map((p) => permissionWords[p])
            .join(", "),
        }),
      );
      if (!updated) throw new NotFoundError("assistant");
      return updated;
    },

    async remove(courseId: string, caller: string, userId: string): Promise<void> {
      const access = await deps.access.load(courseId, caller);
      requireOwner(access);
      if (!(await staff.remove(courseId, userId, event("ASSISTANT_REMOVED", access.course, userId)))) {
        throw new NotFoundError("assistant");
      }
    },

    /** Owner and assistants; visible to the course's members. */
    async list(courseId: string, caller: string): Promise<{ course: Course; assistants: AssistantRecord[] }> {
      const access = await deps.access.load(courseId, caller);
      requireMember(access);
      return { course: access.course, assistants: await staff.list(courseId) };
    },

    async activity(
      courseId: string,
      caller: string,
      actorId: string | undefined,
      limit: number,
      after?: Cursor,
    ): Promise<Page<ActivityRecord>> {
      const access = await deps.access.load(courseId, caller);
      requireOwner(access);
      const rows = await staff.activity(courseId, actorId, limit + 1, after);
      return pageOf(rows, limit, (a) => ({ key: a.createdAt.toISOString(), id: a.id }));
    },
  };
}

export type Staff = ReturnType<typeof createStaff>;
