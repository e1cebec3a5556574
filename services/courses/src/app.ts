/**
 * Builds the courses service: database and migrations (with the outbox), the
 * users directory (gRPC to the users service), domain logic and handlers.
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
import {
  type BlobStore,
  createBlobStore,
  type KeySource,
  type Logger,
  outboxMigrations,
  type RunningService,
  startPeriodicTask,
  startService,
} from "@classconnect/platform";
import { createAssessmentService, createSubmissionService } from "./assessment-service.js";
import type { CoursesConfig } from "./config.js";
import { createCourseService } from "./course-service.js";
import { createAccess } from "./domain/access.js";
import { createAssessments } from "./domain/assessments.js";
import { createCourses } from "./domain/courses.js";
import { createEnrollment } from "./domain/enrollment.js";
import { createFeedback } from "./domain/feedback.js";
import { createModules } from "./domain/modules.js";
import { createReminders, type Reminders } from "./domain/reminders.js";
import { createStaff } from "./domain/staff.js";
import { createStatistics } from "./domain/statistics.js";
import { createEnrollmentService } from "./enrollment-service.js";
import { createFeedbackService } from "./feedback-service.js";
import { createModuleService } from "./module-service.js";
import { createUsersDirectory, type UsersDirectory } from "./ports/users-directory.js";
import { createStaffService } from "./staff-service.js";
import { createStatisticsService } from "./statistics-service.js";
import { createAssessmentStore } from "./store/assessments.js";
import { createCourseStore } from "./store/courses.js";
import { createEnrollmentStore } from "./store/enrollments.js";
import { createFeedbackStore } from "./store/feedback.js";
import { createModuleStore } from "./store/modules.js";
import { createReminderStore } from "./store/reminders.js";
import { createStaffStore } from "./store/staff.js";
import { createStatisticsStore } from "./store/statistics.js";

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "migrations");

export interface CoursesOverrides {
  logger?: Logger;
  /** Outbox relay timing (tests shorten it). */
  outbox?: { pollMs?: number; baseDelayMs?: number };
  adminKeys?: KeySource;
  users?: UsersDirectory;
  blobs?: BlobStore;
  now?: () => Date;
  /** How often the deadline-reminder sweep runs by itself (tests make it rare and call it). */
  reminderPollMs?: number;
  /** How often exam attempts whose time is up are handed in (30 s; tests make it rare and call it). */
  examHandInPollMs?: number;
}

export interface CoursesServer extends RunningService {
  /** Runs the deadline-reminder sweep now; returns for how many assessments it recorded reminders. */
  remindDeadlines(): Promise<number>;
  /** Hands in now the exam attempts no one can hand in any more (see Assessments.handInExpired); returns how many. */
  handInExpiredExams(): Promise<number>;
}

export async function startCoursesServer(
  config: CoursesConfig,
  overrides: CoursesOverrides = {},
): Promise<CoursesServer> {
  let reminders: Reminders | undefined;
  let handInExpired: (() => Promise<number>) | undefined;
  const service = await startService({
    name: "courses",
    config,
    ...(overrides.logger ? { logger: overrides.logger } : {}),
    migrations: [{ dir: migrationsDir }, outboxMigrations],
    outbox: overrides.outbox ?? {},
    setup(sql, logger) {
      const now = overrides.now ?? (() => new Date());
      const users = overrides.users ?? createUsersDirectory(config.usersServiceUrl, config.serviceToken);
      const blobs = overrides.blobs ?? createBlobStore(config.blobs);
      const stores = {
        courses: createCourseStore(sql),
        enrollments: createEnrollmentStore(sql),
        staff: createStaffStore(sql),
        modules: createModuleStore(sql),
        feedback: createFeedbackStore(sql),
      };
      const access = createAccess(stores);
      const courses = createCourses({
        courses: stores.courses,
        enrollments: stores.enrollments,
        access,
        users,
        blobs,
      });
      const enrollment = createEnrollment({ enrollments: stores.enrollments, access, users, now });
      const assessments = createAssessments({ store: createAssessmentStore(sql), access, blobs, now });
      const deadlineReminders = createReminders({
        store: createReminderStore(sql),
        now,
        leadMs: config.reminders.leadMs,
      });
      reminders = deadlineReminders;
      const reminderLoop = startPeriodicTask({
        name: "deadline-reminders",
        everyMs: overrides.reminderPollMs ?? config.reminders.pollMs,
        logger,
        run: deadlineReminders.sweep,
      });
      handInExpired = () => assessments.handInExpired();
      const handInLoop = startPeriodicTask({
        name: "exam-hand-in",
        everyMs: overrides.examHandInPollMs ?? 30_000,
        logger,
        run: handInExpired,
      });
      return {
        onClose: async () => {
          await Promise.all([reminderLoop.stop(), handInLoop.stop()]);
        },
        ...(overrides.adminKeys ? { adminKeys: overrides.adminKeys } : {}),
        routes(router) {
          router.service(CourseService, createCourseService(courses, now));
          router.service(EnrollmentService, createEnrollmentService(enrollment, users));
          router.service(
            StaffService,
            createStaffService(createStaff({ staff: stores.staff, access, users }), users),
          );
          router.service(
            ModuleService,
            createModuleService(createModules({ modules: stores.modules, access, blobs })),
          );
          router.service(
            FeedbackService,
            createFeedbackService(createFeedback({ feedback: stores.feedback, access, enrollment })),
          );
          router.service(AssessmentService, createAssessmentService(assessments));
          router.service(SubmissionService, createSubmissionService(assessments));
          router.service(
            StatisticsService,
            createStatisticsService(createStatistics({ store: createStatisticsStore(sql), access, users })),
          );
        },
      };
    },
  });
  const sweep = reminders!;
  const handIn = handInExpired!;
  return { ...service, remindDeadlines: () => sweep.sweep(), handInExpiredExams: () => handIn() };
}
