/**
 * Modules and their resources: content permission to change, membership to read. A file
 * resource is private like the module it is in: its reader gets a short-lived link.
 */
import { type BlobStore, InvalidArgumentError, NotFoundError, recordingBlobs } from "@classconnect/platform";
import type { ModuleRecord, ModuleStore, ResourceRecord } from "../store/modules.js";
import { type Access, activityOf, changedFields, requireMember, requirePermission } from "./access.js";
import { fileLink, privateFileKey } from "./files.js";
import { Permission } from "./model.js";

export const RESOURCE_FILE = 3;

export function createModules(deps: { modules: ModuleStore; access: Access; blobs: BlobStore }) {
  const { modules } = deps;

  /** The caller's access to a course they change content in; `what` names what was not found. */
  async function contentAccess(courseId: string | undefined, caller: string, what = "module") {
    if (!courseId) throw new NotFoundError(what);
    const access = await deps.access.load(courseId, caller);
    requirePermission(access, Permission.CONTENT);
    return access;
  }

  /** `r` as a reader gets it: a stored file with a link that reads it for a while. */
  async function readable(r: ResourceRecord): Promise<ResourceRecord> {
    return r.fileKey ? { ...r, url: await fileLink(deps.blobs, r.fileKey) } : r;
  }
  const readableAll = (rs: ResourceRecord[]) => Promise.all(rs.map(readable));
  const readableModule = async (m: ModuleRecord) => ({ ...m, resources: await readableAll(m.resources) });
  const readableModules = (ms: ModuleRecord[]) => Promise.all(ms.map(readableModule));

  /** `every`: what the new order must list, e.g. "every module of the course". */
  const reorderMismatch = (field: string, every: string) =>
    new InvalidArgumentError([
      {
        field,
        description: `must list ${every} exactly once`,
        reason: "REORDER_SET_MISMATCH",
      },
    ]);

  return {
    async list(courseId: string, caller: string): Promise<ModuleRecord[]> {
      requireMember(await deps.access.load(courseId, caller));
      return readableModules(await modules.list(courseId));
    },

    async create(
      courseId: string,
      caller: string,
      title: string,
      description: string,
    ): Promise<ModuleRecord> {
      const access = await contentAccess(courseId, caller);
      return modules.create(
        courseId,
        title,
        description,
        activityOf(access, Permission.CONTENT, "module.create", "module", "", title),
      );
    },

    async update(moduleId: string, caller: string, fields: { title?: string; description?: string }) {
      const access = await contentAccess(await modules.courseOfModule(moduleId), caller);
      return readableModule(
        await modules.update(
          moduleId,
          fields,
          activityOf(access, Permission.CONTENT, "module.update", "module", moduleId, changedFields(fields)),
        ),
      );
    },

    async remove(moduleId: string, caller: string): Promise<void> {
      const access = await contentAccess(await modules.courseOfModule(moduleId), caller);
      const keys = await modules.remove(
        moduleId,
        activityOf(access, Permission.CONTENT, "module.delete", "module", moduleId),
      );
      await Promise.all(keys.map((k) => deps.blobs.delete(k)));
    },

    async reorder(courseId: string, caller: string, ids: string[]): Promise<ModuleRecord[]> {
      const access = await contentAccess(courseId, caller);
      const result = await modules.reorder(
        courseId,
        ids,
        activityOf(access, Permission.CONTENT, "module.reorder", "course", courseId),
      );
      if (!result) throw reorderMismatch("module_ids", "every module of the course");
      return readableModules(result);
    },

    async addResource(
      moduleId: string,
      caller: string,
      r: { title: string; kind: number; url: string; content: Uint8Array; fileName: string },
    ): Promise<ResourceRecord> {
      const access = await contentAccess(await modules.courseOfModule(moduleId), caller);
      let url = r.url;
      let fileKey: string | null = null;
      if (r.kind === RESOURCE_FILE) {
        fileKey = privateFileKey("modules", access.course.id, r.fileName);
        await deps.blobs.put(fileKey, r.content);
        url = ""; // made per reader by readable()
      }
      const added = await recordingBlobs(deps.blobs, fileKey ? [fileKey] : [], () =>
        modules.addResource(
          moduleId,
          { title: r.title, kind: r.kind, url, fileKey, fileName: r.fileName, sizeBytes: r.content.length },
          activityOf(access, Permission.CONTENT, "resource.create", "resource", "", r.title),
        ),
      );
      return readable(added);
    },

    async updateResource(resourceId: string, caller: string, fields: { title?: string; url?: string }) {
      const owner = await modules.courseOfResource(resourceId);
      const access = await contentAccess(owner?.courseId, caller, "resource");
      if (fields.url !== undefined && (await modules.resource(resourceId))?.kind === RESOURCE_FILE) {
        throw new InvalidArgumentError([
          {
            field: "url",
            description: "a file's URL cannot be changed; upload a new file",
            reason: "FILE_URL_FIXED",
          },
        ]);
      }
      return readable(
        await modules.updateResource(
          resourceId,
          fields,
          activityOf(
            access,
            Permission.CONTENT,
            "resource.update",
            "resource",
            resourceId,
            changedFields(fields),
          ),
        ),
      );
    },

    async removeResource(resourceId: string, caller: string): Promise<void> {
      const owner = await modules.courseOfResource(resourceId);
      const access = await contentAccess(owner?.courseId, caller, "resource");
      const key = await modules.removeResource(
        resourceId,
        activityOf(access, Permission.CONTENT, "resource.delete", "resource", resourceId),
      );
      if (key) await deps.blobs.delete(key);
    },

    async reorderResources(moduleId: string, caller: string, ids: string[]): Promise<ResourceRecord[]> {
      const access = await contentAccess(await modules.courseOfModule(moduleId), caller);
      const result = await modules.reorderResources(
        moduleId,
        ids,
        activityOf(access, Permission.CONTENT, "resource.reorder", "module", moduleId),
      );
      if (!result) throw reorderMismatch("resource_ids", "every resource of the module");
      return readableAll(result);
    },
  };
}

export type Modules = ReturnType<typeof createModules>;
