/** Course and student statistics, and the CSV export. Figures come from SQL aggregates. */
import type { UsersDirectory } from "../ports/users-directory.js";
import type { StatisticsStore } from "../store/statistics.js";
import { type Access, requirePermission } from "./access.js";
import { Permission } from "./model.js";

const round = (n: number | null) => (n === null ? 0 : Math.round(n * 100) / 100);
const ratio = (part: number, whole: number) => (whole > 0 ? Math.round((part / whole) * 10000) / 10000 : 0);

/**
 * One CSV field, quoted as RFC 4180 says. Text that a spreadsheet would read as a formula
 * (a student may name themselves `=HYPERLINK(…)`) starts with a `'` so that it stays text
 * (OWASP's advice on CSV injection); numbers are written as they are.
 */
export const csvField = (v: string | number) => {
  const s = typeof v === "string" && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export const CSV_HEADER = "student_id,first_name,last_name,submitted,late,average_grade,final_grade";

export function createStatistics(deps: { store: StatisticsStore; access: Access; users: UsersDirectory }) {
  const { store } = deps;
  return {
    /** The backoffice's figures (internal callers only: no course access to check). */
    platform: (from: Date, to: Date) => store.platform(from, to),

    async course(courseId: string, caller: string, from?: Date, to?: Date) {
      requirePermission(await deps.access.load(courseId, caller), Permission.STATISTICS);
      const { head, perAssessment, trend } = await store.course(courseId, from, to);
      return {
        studentCount: head.students,
        averageGrade: round(head.average),
        completionRate: ratio(head.handed_in, head.students * head.published),
        assessments: perAssessment.map((a) => ({
          assessmentId: a.id,
          title: a.title,
          averageGrade: round(a.average),
          completionRate: ratio(a.handed_in, head.students),
          submissionCount: a.handed_in,
        })),
        trend: trend.map((w) => ({
          weekStart: w.week,
          averageGrade: round(w.average),
          submissionCount: w.handed_in,
        })),
      };
    },

    /**
     * A student's figures: for the course's statistics staff, and for the student, who sees
     * grades only once final (as their submissions show them).
     */
    async student(courseId: string, caller: string, studentId: string) {
      const access = await deps.access.load(courseId, caller);
      const own = caller === studentId;
      if (!own) requirePermission(access, Permission.STATISTICS);
      const row = await store.student(courseId, studentId, own);
      return {
        averageGrade: round(row.average),
        completionRate: ratio(row.handed_in, row.published),
        submittedCount: row.handed_in,
        lateCount: row.late,
        gradedCount: row.graded,
      };
    },

    /** The CSV, a header then one line per enrolled student, produced page by page. */
    async *exportCsv(courseId: string, caller: string, pageSize = 500): AsyncGenerator<string> {
      requirePermission(await deps.access.load(courseId, caller), Permission.STATISTICS);
      yield `${CSV_HEADER}\n`;
      let after: string | undefined;
      for (;;) {
        const rows = await store.perStudent(courseId, after, pageSize);
        if (rows.length === 0) return;
        const profiles = await deps.users.profiles(rows.map((r) => r.student_id));
        yield rows
          .map((r) => {
            const p = profiles.get(r.student_id);
            return [
              r.student_id,
              p?.firstName ?? "",
              p?.lastName ?? "",
              r.handed_in,
              r.late,
              round(r.average),
              r.final_grade === null ? "" : r.final_grade,
            ]
              .map(csvField)
              .join(",");
          })
          .join("\n")
          .concat("\n");
        after = rows[rows.length - 1]!.student_id;
        if (rows.length < pageSize) return;
      }
    },
  };
}

export type Statistics = ReturnType<typeof createStatistics>;
