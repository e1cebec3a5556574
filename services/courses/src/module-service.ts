import type { ModuleService } from "@classconnect/gen/classconnect/courses/v1/module_service_pb.js";
import { maskedFields, requireUser } from "@classconnect/platform";
import type { ServiceImpl } from "@connectrpc/connect";
import { toModule, toResource } from "./convert.js";
import type { Modules } from "./domain/modules.js";

/** The fields of `source` named in `paths`, by their camelCase names. */
export function createModuleService(modules: Modules): ServiceImpl<typeof ModuleService> {
  return {
    async createModule(req, ctx) {
      return {
        module: toModule(
          await modules.create(req.courseId, requireUser(ctx).userId, req.title.trim(), req.description),
        ),
      };
    },
    async updateModule(req, ctx) {
      const fields = maskedFields(
        { title: req.title.trim(), description: req.description },
        req.updateMask?.paths,
        {
          title: "title",
          description: "description",
        },
      );
      return { module: toModule(await modules.update(req.moduleId, requireUser(ctx).userId, fields)) };
    },
    async deleteModule(req, ctx) {
      await modules.remove(req.moduleId, requireUser(ctx).userId);
      return {};
    },
    async listModules(req, ctx) {
      return { modules: (await modules.list(req.courseId, requireUser(ctx).userId)).map(toModule) };
    },
    async reorderModules(req, ctx) {
      return {
        modules: (await modules.reorder(req.courseId, requireUser(ctx).userId, req.moduleIds)).map(toModule),
      };
    },
    async addResource(req, ctx) {
      const resource = await modules.addResource(req.moduleId, requireUser(ctx).userId, {
        title: req.title.trim(),
        kind: req.kind,
        url: req.url,
        content: req.content,
        fileName: req.fileName,
      });
      return { resource: toResource(resource) };
    },
    async updateResource(req, ctx) {
      const fields = maskedFields({ title: req.title.trim(), url: req.url }, req.updateMask?.paths, {
        title: "title",
        url: "url",
      });
      return {
        resource: toResource(await modules.updateResource(req.resourceId, requireUser(ctx).userId, fields)),
      };
    },
    async removeResource(req, ctx) {
      await modules.removeResource(req.resourceId, requireUser(ctx).userId);
      return {};
    },
    async reorderResources(req, ctx) {
      const resources = await modules.reorderResources(
        req.moduleId,
        requireUser(ctx).userId,
        req.resourceIds,
      );
      return { resources: resources.map(toResource) };
    },
  };
}
