/**
 * Which service answers which contract: the single route table of the public
 * API. The gateway forwards by it; the Envoy/Kong config generators read it.
 */
import type { DescService } from "@bufbuild/protobuf";
import { AdminAuthService } from "@classconnect/gen/classconnect/admin/v1/admin_auth_service_pb.js";
import { AuditService } from "@classconnect/gen/classconnect/admin/v1/audit_service_pb.js";
import { PlatformService } from "@classconnect/gen/classconnect/admin/v1/platform_service_pb.js";
import { RuleService } from "@classconnect/gen/classconnect/admin/v1/rule_service_pb.js";
import { UserManagementService } from "@classconnect/gen/classconnect/admin/v1/user_management_service_pb.js";
import { AssessmentService } from "@classconnect/gen/classconnect/courses/v1/assessment_service_pb.js";
import { CourseService } from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { EnrollmentService } from "@classconnect/gen/classconnect/courses/v1/enrollment_service_pb.js";
import { FeedbackService } from "@classconnect/gen/classconnect/courses/v1/feedback_service_pb.js";
import { ModuleService } from "@classconnect/gen/classconnect/courses/v1/module_service_pb.js";
import { StaffService } from "@classconnect/gen/classconnect/courses/v1/staff_service_pb.js";
import { StatisticsService } from "@classconnect/gen/classconnect/courses/v1/statistics_service_pb.js";
import { SubmissionService } from "@classconnect/gen/classconnect/courses/v1/submission_service_pb.js";
import { DeliveryLogService } from "@classconnect/gen/classconnect/notifications/v1/delivery_log_service_pb.js";
import { DispatchService } from "@classconnect/gen/classconnect/notifications/v1/dispatch_service_pb.js";
import { NotificationService } from "@classconnect/gen/classconnect/notifications/v1/notification_service_pb.js";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { UserAdminService } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";

export type Upstream = "users" | "courses" | "notifications" | "admin";

export const routeTable: readonly { service: DescService; upstream: Upstream }[] = [
  { service: AuthService, upstream: "users" },
  { service: UserService, upstream: "users" },
  { service: UserAdminService, upstream: "users" },
  { service: CourseService, upstream: "courses" },
  { service: EnrollmentService, upstream: "courses" },
  { service: StaffService, upstream: "courses" },
  { service: ModuleService, upstream: "courses" },
  { service: AssessmentService, upstream: "courses" },
  { service: SubmissionService, upstream: "courses" },
  { service: FeedbackService, upstream: "courses" },
  { service: StatisticsService, upstream: "courses" },
  { service: NotificationService, upstream: "notifications" },
  { service: DispatchService, upstream: "notifications" },
  { service: DeliveryLogService, upstream: "notifications" },
  { service: AdminAuthService, upstream: "admin" },
  { service: RuleService, upstream: "admin" },
  { service: AuditService, upstream: "admin" },
  { service: UserManagementService, upstream: "admin" },
  { service: PlatformService, upstream: "admin" },
];

/** Methods whose callers are rate-limited per client address (password guessing, sign-up spam). */
export const rateLimitedMethods = new Set([
  "classconnect.users.v1.AuthService.Login",
  "classconnect.users.v1.AuthService.Register",
  "classconnect.users.v1.AuthService.RequestPasswordReset",
  "classconnect.users.v1.AuthService.LoginWithGoogle",
  "classconnect.users.v1.AuthService.ResetPassword",
  "classconnect.users.v1.AuthService.VerifyEmail",
  "classconnect.users.v1.AuthService.ResendVerificationPin",
  "classconnect.admin.v1.AdminAuthService.Login",
]);
