/**
 * The platform's figures for the backoffice: each service counts its own (users, courses and
 * work, notification deliveries) and the admin service asks all three at once, for one period.
 * A service that does not answer is named, and the others' figures are still given: the
 * dashboard matters most when part of the platform is down.
 */
import type { PlatformCourseFigures } from "@classconnect/gen/classconnect/courses/v1/statistics_service_pb.js";
import type { DeliveryCount } from "@classconnect/gen/classconnect/notifications/v1/delivery_log_service_pb.js";
import type { UserFigures } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import type { Logger } from "@classconnect/platform";

/** The period when the caller names none: the 30 days before its end. */
export const DEFAULT_PERIOD_MS = 30 * 86_400_000;

export interface FigureSources {
  users(from: Date, to: Date): Promise<UserFigures | undefined>;
  courses(from: Date, to: Date): Promise<PlatformCourseFigures | undefined>;
  deliveries(from: Date, to: Date): Promise<DeliveryCount[]>;
}

export function createFigures(deps: { sources: FigureSources; now: () => Date; logger: Logger }) {
  return {
    async platform(fromTime?: Date, toTime?: Date) {
      const to = toTime ?? deps.now();
      const from = fromTime ?? new Date(to.getTime() - DEFAULT_PERIOD_MS);
      const unavailable: string[] = [];
      const ask = <T>(name: string, answer: Promise<T>) =>
        answer.catch((err: unknown) => {
          deps.logger.warn({ err, source: name }, "figures unavailable");
          unavailable.push(name);
          return undefined;
        });
      const [users, courses, deliveries] = await Promise.all([
        ask("users", deps.sources.users(from, to)),
        ask("courses", deps.sources.courses(from, to)),
        ask("notifications", deps.sources.deliveries(from, to)),
      ]);
      return { from, to, users, courses, deliveries: deliveries ?? [], unavailable: unavailable.sort() };
    },
  };
}

export type Figures = ReturnType<typeof createFigures>;
