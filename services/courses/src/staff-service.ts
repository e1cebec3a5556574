import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  StaffMemberSchema,
  type StaffService,
} from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import type { PublicProfile } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { pageSize, pageTokens, requireUser } from "@classconnect/platform";
import type { ServiceImpl } from "@connectrpc/connect";
import { profileOrId, toActivity } from "./convert.js";
import { ALL_PERMISSIONS, type PermissionValue } from "./domain/model.js";
import type { Staff } from "./domain/staff.js";
import type { UsersDirectory } from "./ports/users-directory.js";
import type { AssistantRecord } from "./store/staff.js";

const activityPages = pageTokens("courses.activity", "time");

const member = (a: AssistantRecord, user: PublicProfile) =>
  create(StaffMemberSchema, {
    user,
    owner: false,
    permissions: a.permissions,
    addTime: timestampFromDate(a.addedAt),
  });

export function createStaffService(staff: Staff, users: UsersDirectory): ServiceImpl<typeof StaffService> {
  return {
    async addAssistant(req, ctx) {
      const a = await staff.add(
        req.courseId,
        requireUser(ctx).userId,
        req.userId,
        req.permissions as PermissionValue[],
      );
      return { assistant: member(a, profileOrId(await users.profiles([a.userId]), a.userId)) };
    },
    async updateAssistant(req, ctx) {
      const a = await staff.update(
        req.courseId,
        requireUser(ctx).userId,
        req.userId,
        req.permissions as PermissionValue[],
      );
      return { assistant: member(a, profileOrId(await users.profiles([a.userId]), a.userId)) };
    },
    async removeAssistant(req, ctx) {
      await staff.remove(req.courseId, requireUser(ctx).userId, req.userId);
      return {};
    },
    async listStaff(req, ctx) {
      const { course, assistants } = await staff.list(req.courseId, requireUser(ctx).userId);
      const profiles = await users.profiles([course.ownerId, ...assistants.map((a) => a.userId)]);
      const owner = create(StaffMemberSchema, {
        user: profileOrId(profiles, course.ownerId),
        owner: true,
        permissions: ALL_PERMISSIONS,
        addTime: timestampFromDate(course.createdAt),
      });
      return { staff: [owner, ...assistants.map((a) => member(a, profileOrId(profiles, a.userId)))] };
    },
    async listActivity(req, ctx) {
      const page = await staff.activity(
        req.courseId,
        requireUser(ctx).userId,
        req.actorId || undefined,
        pageSize(req.pageSize),
        activityPages.read(req),
      );
      return { entries: page.items.map(toActivity), nextPageToken: activityPages.write(page.next, req) };
    },
  };
}
