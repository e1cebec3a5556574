import { create } from "@bufbuild/protobuf";
import type { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { PublicProfileSchema } from "@classconnect/gen/classconnect/users/v1/user_pb.js";
import { pageSize, pageTokens, requireUser } from "@classconnect/platform";
import type { ServiceImpl } from "@connectrpc/connect";
import { profileOrId, toEnrollment } from "./convert.js";
import type { Enrollment } from "./domain/enrollment.js";
import type { UsersDirectory } from "./ports/users-directory.js";

const studentIdPages = pageTokens("courses.student-ids", "none");
const studentPages = pageTokens("courses.students", "time");

export function createEnrollmentService(
  enrollment: Enrollment,
  users: UsersDirectory,
): ServiceImpl<typeof EnrollmentService> {
  return {
    async enroll(req, ctx) {
      const { userId } = requireUser(ctx);
      const record = await enrollment.enroll(req.courseId, userId);
      return { enrollment: toEnrollment(record, create(PublicProfileSchema, { id: userId })) };
    },
    async unenroll(req, ctx) {
      await enrollment.unenroll(req.courseId, requireUser(ctx).userId);
      return {};
    },
    async removeStudent(req, ctx) {
      await enrollment.removeStudent(req.courseId, requireUser(ctx).userId, req.studentId, req.reason);
      return {};
    },
    async listEnrolledStudentIds(req) {
      const page = await enrollment.studentIds(
        req.courseId,
        pageSize(req.pageSize, 1000),
        studentIdPages.read(req),
      );
      return { studentIds: page.items, nextPageToken: studentIdPages.write(page.next, req) };
    },
    async listStudents(req, ctx) {
      const page = await enrollment.students(
        req.courseId,
        requireUser(ctx).userId,
        pageSize(req.pageSize),
        studentPages.read(req),
      );
      const profiles = await users.profiles(page.items.map((e) => e.studentId));
      return {
        enrollments: page.items.map((e) => toEnrollment(e, profileOrId(profiles, e.studentId))),
        nextPageToken: studentPages.write(page.next, req),
      };
    },
  };
}
