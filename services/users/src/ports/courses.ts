import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { createServiceClient } from "@classconnect/platform";

/** What the users service asks the courses service. */
export interface CoursesDirectory {
  /** The courses a user still teaches (owns, not finished): the first few titles, and how many. */
  ownedActive(userId: string): Promise<{ courses: { courseId: string; title: string }[]; total: number }>;
  /** Removes a deleted account's assistant roles, favorites and seats in running courses there. */
  forget(userId: string): Promise<void>;
}

/** The courses service over gRPC, as an internal caller. */
export function createCoursesDirectory(coursesServiceUrl: string, serviceToken: string): CoursesDirectory {
  const client = createServiceClient(CourseService, coursesServiceUrl, serviceToken);
  return {
    async ownedActive(userId) {
      const res = await client.listOwnedActiveCourses({ userId }, { timeoutMs: 5000 });
      return {
        courses: res.courses.map((c) => ({ courseId: c.courseId, title: c.title })),
        total: res.total,
      };
    },
    async forget(userId) {
      await client.forgetUser({ userId }, { timeoutMs: 5000 });
    },
  };
}
