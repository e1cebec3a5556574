import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { StatisticsService } from "@classconnect/gen/classconnect/courses/v1/statistics_service_pb.js";
import { int64Counts, periodDates, requireUser } from "@classconnect/platform";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Statistics } from "./domain/statistics.js";

export function createStatisticsService(statistics: Statistics): ServiceImpl<typeof StatisticsService> {
  return {
    async getCourseStatistics(req, ctx) {
      const s = await statistics.course(
        req.courseId,
        requireUser(ctx).userId,
        req.fromTime ? timestampDate(req.fromTime) : undefined,
        req.toTime ? timestampDate(req.toTime) : undefined,
      );
      return { ...s, trend: s.trend.map((w) => ({ ...w, weekStart: timestampFromDate(w.weekStart) })) };
    },
    async getStudentStatistics(req, ctx) {
      return statistics.student(req.courseId, requireUser(ctx).userId, req.studentId);
    },
    async getPlatformCourseFigures(req) {
      const { from, to } = periodDates(req.period);
      const figures = await statistics.platform(from, to);
      return { figures: int64Counts(figures) };
    },
    async *exportCourseStatistics(req, ctx) {
      const encoder = new TextEncoder();
      for await (const text of statistics.exportCsv(req.courseId, requireUser(ctx).userId)) {
        yield { chunk: encoder.encode(text) };
      }
    },
  };
}
