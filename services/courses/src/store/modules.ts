import { randomUUID } from "node:crypto";
import { inTransaction, NotFoundError, type Sql, type TransactionSql } from "@classconnect/platform";
import { type Activity, logActivity } from "./staff.js";

export interface ResourceRecord {
  id: string;
  moduleId: string;
  title: string;
  kind: number;
  url: string;
  fileKey: string | null;
  fileName: string;
  sizeBytes: number;
  position: number;
}

export interface ModuleRecord {
  id: string;
  courseId: string;
  title: string;
  description: string;
  position: number;
  resources: ResourceRecord[];
}

interface ResourceRow {
  id: string;
  module_id: string;
  title: string;
  kind: number;
  url: string;
  file_key: string | null;
  file_name: string;
  size_bytes: string;
  position: number;
}

const toResource = (r: ResourceRow): ResourceRecord => ({
  id: r.id,
  moduleId: r.module_id,
  title: r.title,
  kind: r.kind,
  url: r.url,
  fileKey: r.file_key,
  fileName: r.file_name,
  sizeBytes: Number(r.size_bytes),
  position: r.position,
});

/** Runs a change and its activity entry (when an assistant acts) in one transaction. */
function withActivity<T>(sql: Sql, activity: Activity | undefined, fn: (tx: TransactionSql) => Promise<T>) {
  return inTransaction(sql, async (tx) => {
    const result = await fn(tx);
    if (activity) await logActivity(tx, activity);
    return result;
  });
}

/**
 * Gives the children of one parent the positions of `ids` (0, 1, …), when
 * `ids` is exactly that parent's set of children; false otherwise. Positions
 * are unique per parent (a deferred constraint), so they stay dense.
 */
async function setOrder(
  tx: TransactionSql,
  table: "modules" | "resources",
  parentColumn: "course_id" | "module_id",
  parentId: string,
  ids: string[],
): Promise<boolean> {
  const current = await tx<
    { id: string }[]
  >`select id from ${tx(table)} where ${tx(parentColumn)} = ${parentId}`;
  const known = new Set(current.map((r) => r.id));
  if (current.length !== ids.length || !ids.every((id) => known.has(id))) return false;
  await tx`
    update ${tx(table)} t set position = o.ord - 1
    from unnest(${ids}::uuid[]) with ordinality as o(id, ord)
    where t.id = o.id`;
  return true;
}

export function createModuleStore(sql: Sql) {
  async function listModules(tx: Sql | TransactionSql, courseId: string): Promise<ModuleRecord[]> {
    const modules = await tx<
      { id: string; course_id: string; title: string; description: string; position: number }[]
    >`
      select * from modules where course_id = ${courseId} order by position`;
    const resources = await tx<ResourceRow[]>`
      select r.* from resources r join modules m on m.id = r.module_id
      where m.course_id = ${courseId} order by r.position`;
    return modules.map((m) => ({
      id: m.id,
      courseId: m.course_id,
      title: m.title,
      description: m.description,
      position: m.position,
      resources: resources.filter((r) => r.module_id === m.id).map(toResource),
    }));
  }

  async function resourcesOf(tx: Sql | TransactionSql, moduleId: string): Promise<ResourceRecord[]> {
    const rows = await tx<
      ResourceRow[]
    >`select * from resources where module_id = ${moduleId} order by position`;
    return rows.map(toResource);
  }

  return {
    list: (courseId: string) => listModules(sql, courseId),

    /** The course a module belongs to, or undefined. */
    async courseOfModule(moduleId: string): Promise<string | undefined> {
      const [row] = await sql<{ course_id: string }[]>`select course_id from modules where id = ${moduleId}`;
      return row?.course_id;
    },

    async courseOfResource(resourceId: string): Promise<{ courseId: string; moduleId: string } | undefined> {
      const [row] = await sql<{ course_id: string; module_id: string }[]>`
        select m.course_id, r.module_id from resources r join modules m on m.id = r.module_id where r.id = ${resourceId}`;
      return row && { courseId: row.course_id, moduleId: row.module_id };
    },

    async create(courseId: string, title: string, description: string, activity?: Activity) {
      return withActivity(sql, activity, async (tx) => {
        // Serialize appends per course so positions stay dense and unique.
        await tx`select 1 from courses where id = ${courseId} for update`;
        const id = randomUUID();
        await tx`
          insert into modules (id, course_id, title, description, position)
          values (${id}, ${courseId}, ${title}, ${description},
                  (select count(*) from modules where course_id = ${courseId}))`;
        if (activity) activity.resourceId = id;
        return (await listModules(tx, courseId)).find((m) => m.id === id)!;
      });
    },

    async update(moduleId: string, fields: { title?: string; description?: string }, activity?: Activity) {
      return withActivity(sql, activity, async (tx) => {
        const values = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
        const [row] =
          Object.keys(values).length > 0
            ? await tx<
                { course_id: string }[]
              >`update modules set ${tx(values)} where id = ${moduleId} returning course_id`
            : await tx<{ course_id: string }[]>`select course_id from modules where id = ${moduleId}`;
        // Deleted since the caller's access was checked.
        if (!row) throw new NotFoundError("module");
        return (await listModules(tx, row.course_id)).find((m) => m.id === moduleId)!;
      });
    },

    /** Deletes a module (and its resources) and closes the gap in positions. Returns file keys to delete. */
    async remove(moduleId: string, activity?: Activity): Promise<string[]> {
      return inTransaction(sql, async (tx) => {
        const keys = await tx<{ file_key: string }[]>`
          select file_key from resources where module_id = ${moduleId} and file_key is not null`;
        const [gone] = await tx<{ course_id: string; position: number; title: string }[]>`
          delete from modules where id = ${moduleId} returning course_id, position, title`;
        // Deleted by another call since the caller's access was checked.
        if (!gone) throw new NotFoundError("module");
        await tx`update modules set position = position - 1
                 where course_id = ${gone.course_id} and position > ${gone.position}`;
        // The entry names what went, as the one for creating it did: the id no longer says.
        if (activity) await logActivity(tx, { ...activity, details: gone.title });
        return keys.map((k) => k.file_key);
      });
    },

    /**
     * Sets the order of all of a course's modules in one transaction. Returns
     * false when `ids` is not exactly the course's module set.
     */
    async reorder(courseId: string, ids: string[], activity?: Activity): Promise<ModuleRecord[] | false> {
      return withActivity(sql, activity, async (tx) => {
        await tx`select 1 from courses where id = ${courseId} for update`;
        if (!(await setOrder(tx, "modules", "course_id", courseId, ids))) return false;
        return listModules(tx, courseId);
      });
    },

    async addResource(
      moduleId: string,
      r: {
        title: string;
        kind: number;
        url: string;
        fileKey: string | null;
        fileName: string;
        sizeBytes: number;
      },
      activity?: Activity,
    ): Promise<ResourceRecord> {
      return withActivity(sql, activity, async (tx) => {
        await tx`select 1 from modules where id = ${moduleId} for update`;
        const id = randomUUID();
        const [row] = await tx<ResourceRow[]>`
          insert into resources (id, module_id, title, kind, url, file_key, file_name, size_bytes, position)
          values (${id}, ${moduleId}, ${r.title}, ${r.kind}, ${r.url}, ${r.fileKey}, ${r.fileName}, ${r.sizeBytes},
                  (select count(*) from resources where module_id = ${moduleId}))
          returning *`;
        if (activity) activity.resourceId = id;
        return toResource(row!);
      });
    },

    async resource(resourceId: string): Promise<ResourceRecord | undefined> {
      const [row] = await sql<ResourceRow[]>`select * from resources where id = ${resourceId}`;
      return row && toResource(row);
    },

    async updateResource(resourceId: string, fields: { title?: string; url?: string }, activity?: Activity) {
      return withActivity(sql, activity, async (tx) => {
        const values = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
        const [row] =
          Object.keys(values).length > 0
            ? await tx<ResourceRow[]>`update resources set ${tx(values)} where id = ${resourceId} returning *`
            : await tx<ResourceRow[]>`select * from resources where id = ${resourceId}`;
        if (!row) throw new NotFoundError("resource");
        return toResource(row);
      });
    },

    async removeResource(resourceId: string, activity?: Activity): Promise<string | null> {
      return inTransaction(sql, async (tx) => {
        const [gone] = await tx<
          { module_id: string; position: number; file_key: string | null; title: string }[]
        >`delete from resources where id = ${resourceId} returning module_id, position, file_key, title`;
        if (!gone) throw new NotFoundError("resource");
        await tx`update resources set position = position - 1
                 where module_id = ${gone.module_id} and position > ${gone.position}`;
        if (activity) await logActivity(tx, { ...activity, details: gone.title });
        return gone.file_key;
      });
    },

    async reorderResources(
      moduleId: string,
      ids: string[],
      activity?: Activity,
    ): Promise<ResourceRecord[] | false> {
      return withActivity(sql, activity, async (tx) => {
        await tx`select 1 from modules where id = ${moduleId} for update`;
        if (!(await setOrder(tx, "resources", "module_id", moduleId, ids))) return false;
        return resourcesOf(tx, moduleId);
      });
    },
  };
}

export type ModuleStore = ReturnType<typeof createModuleStore>;
