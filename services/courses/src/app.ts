/**
 * The courses service. Its contracts are complete; its methods are not built yet
 * and answer UNIMPLEMENTED, while health, authentication and the database are live.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AssessmentService } from "@classconnect/gen/classconnect/courses/v1/assessment_service_pb.js";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { FeedbackService } from "@classconnect/gen/classconnect/courses/v1/feedback_service_pb.js";
import { ModuleService } from "@classconnect/gen/classconnect/courses/v1/module_service_pb.js";
import { StaffService } from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import { StatisticsService } from "@classconnect/gen/classconnect/courses/v1/statistics_service_pb.js";
import { SubmissionService } from "@classconnect/gen/classconnect/courses/v1/submission_service_pb.js";
import { type Logger, type RunningService, startService } from "@classconnect/platform";
import type { CoursesConfig } from "./config.js";

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

export async function startCoursesServer(config: CoursesConfig, logger?: Logger): Promise<RunningService> {
  return startService({
    name: "courses",
    config,
    ...(logger ? { logger } : {}),
    migrationsDir,
    setup: () => ({
      routes(router) {
        router.service(CourseService, {});
        router.service(EnrollmentService, {});
        router.service(StaffService, {});
        router.service(ModuleService, {});
        router.service(AssessmentService, {});
        router.service(SubmissionService, {});
        router.service(FeedbackService, {});
        router.service(StatisticsService, {});
      },
    }),
  });
}
