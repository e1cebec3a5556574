/**
 * The catalog's queries use indexes: with 10,000 courses (100,000 for keywords), EXPLAIN
 * shows no sequential scan of `courses` for any filter or order ListCourses offers.
 * The queries are the ones the store really sends (captured from the driver).
 */
import { randomUUID } from "node:crypto";
import { migrate, outboxMigrations } from "@classconnect/platform";
import { createTestDatabase, testLogger } from "@classconnect/platform/testing";
import postgres from "postgres";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { migrationsDir } from "../src/app.js";
import { type CatalogFilter, type CatalogOrder, createCourseStore } from "../src/store/courses.js";

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

const test = suite("courses: catalog query plans at 10,000 courses");

test("every catalog query reads courses through an index", async () => {
  const url = await createTestDatabase("plans");
  const captured: { query: string; params: unknown[] }[] = [];
  const sql = postgres(url, {
    max: 1,
    onnotice: () => {},
    debug: (_conn, query, params) => captured.push({ query, params: params as unknown[] }),
  });
  try {
    await migrate(sql, [{ dir: migrationsDir }, outboxMigrations], testLogger("plans"));
    const addCourses = (from: number, to: number) => sql`
      insert into courses (id, owner_id, title, description, category, level, modality, capacity,
                           start_time, end_time, enrollment_deadline, enrolled_count)
      select gen_random_uuid(), gen_random_uuid(),
             (array['Quantum', 'Classical', 'Organic', 'Linear', 'Modern', 'Ancient'])[1 + i % 6]
               || ' ' || (array['Physics', 'Chemistry', 'Algebra', 'History', 'Poetry'])[1 + i % 5] || ' ' || i,
             'A course about topic ' || i, 'cat-' || (i % 40), 1 + i % 3, 1 + i % 2, 10 + i % 90,
             now() + (i % 365) * interval '1 day' + interval '10 days',
             now() + (i % 365) * interval '1 day' + interval '100 days',
             now() + (i % 365) * interval '1 day' + interval '5 days',
             i % 10
      from generate_series(${from}::int, ${to}::int) as i`;
    await addCourses(1, 10000);
    await sql`analyze`;
    const store = createCourseStore(sql);
    const caller = randomUUID();
    const cases: [string, CatalogFilter, CatalogOrder][] = [
      ["default order", { includeClosed: false }, "start_time"],
      ["category", { includeClosed: false, category: "cat-7" }, "start_time"],
      ["level and modality", { includeClosed: false, level: 2, modality: 1 }, "start_time"],
      [
        "date range",
        {
          includeClosed: false,
          startAfter: new Date(Date.now() + 100 * 864e5),
          startBefore: new Date(Date.now() + 120 * 864e5),
        },
        "start_time",
      ],
      ["by title", { includeClosed: true }, "title"],
      ["newest first", { includeClosed: true }, "create_time desc"],
      ["most seats", { includeClosed: false }, "seats_left desc"],
    ];
    const check = async (cases: [string, CatalogFilter, CatalogOrder][]) => {
      for (const [name, filter, order] of cases) {
        const first = await store.catalog(caller, filter, order, 21);
        assert.ok(first.length > 0, `${name}: finds courses`);
        const last = first[first.length - 1]!;
        const key = last.sortKey instanceof Date ? last.sortKey.toISOString() : last.sortKey;
        for (const after of [undefined, { key, id: last.view.id }]) {
          captured.length = 0;
          await store.catalog(caller, filter, order, 21, after);
          const { query, params } = captured.find((q) => q.query.includes("from courses c"))!;
          const [row] = await sql.unsafe(
            `explain (format json) ${query}`,
            params as postgres.ParameterOrJSON<never>[],
          );
          const plan = (row!["QUERY PLAN"] as { Plan: PlanNode }[])[0]!.Plan;
          const seq = nodes(plan).filter(
            (n) => n["Node Type"] === "Seq Scan" && n["Relation Name"] === "courses",
          );
          assert.equal(seq, [], `${name}${after ? " (page 2)" : ""}: no sequential scan of courses`);
          const used = nodes(plan).flatMap((n) =>
            n["Relation Name"] === "courses" && n["Index Name"] ? [n["Index Name"]] : [],
          );
          assert.ok(
            used.length > 0 || nodes(plan).some((n) => n["Node Type"] === "Bitmap Index Scan"),
            `${name}: uses an index`,
          );
        }
      }
    };
    await check(cases);
    // A keyword's last word matches as a prefix ("quantum phys"). At 10,000 courses the
    // planner may read the whole table for it instead (277 pages, as fast as the index
    // here); what matters is that it stops doing so as the catalog grows.
    await addCourses(10001, 100000);
    await sql`analyze`;
    await check([
      ["keyword", { includeClosed: false, keyword: "quantum physics" }, "start_time"],
      ["unfinished keyword", { includeClosed: false, keyword: "quantum phys" }, "start_time"],
    ]);
  } finally {
    await sql.end();
  }
});

test.run();
