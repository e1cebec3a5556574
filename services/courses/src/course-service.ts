import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { CourseRole, CourseState } from "@classconnect/gen/classconnect/courses/v1/course_pb.js";
import {
  CourseInputSchema,
  type CourseService,
} from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import {
  assertValid,
  maskedFields,
  type PageTokens,
  pageSize,
  pageTokens,
  requireUser,
} from "@classconnect/platform";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { courseMaskPaths, fieldsFromInput, inputFromFields, toCourse } from "./convert.js";
import type { Courses } from "./domain/courses.js";
import type { CatalogOrder } from "./store/courses.js";

const me = (ctx: HandlerContext) => requireUser(ctx).userId;

/** The catalog's page tokens, one list per order: a token keeps the order it was made for. */
const catalogPages: Record<CatalogOrder, PageTokens> = {
  start_time: pageTokens("courses.catalog.start_time", "time"),
  "create_time desc": pageTokens("courses.catalog.create_time", "time"),
  title: pageTokens("courses.catalog.title", "text"),
  "seats_left desc": pageTokens("courses.catalog.seats_left", "integer"),
};
const myCoursePages = pageTokens("courses.mine", "time");
const favoritePages = pageTokens("courses.favorites", "time");

export function createCourseService(courses: Courses, now: () => Date): ServiceImpl<typeof CourseService> {
  return {
    async createCourse(req, ctx) {
      return { course: toCourse(await courses.create(me(ctx), fieldsFromInput(req.course!)), now()) };
    },
    async getCourse(req, ctx) {
      const { view, teacher, prerequisites } = await courses.get(req.courseId, me(ctx));
      return { course: toCourse(view, now(), teacher, prerequisites) };
    },
    async uploadCoursePicture(req, ctx) {
      return { course: toCourse(await courses.uploadPicture(req.courseId, me(ctx), req.content), now()) };
    },
    async forgetUser(req) {
      await courses.forgetUser(req.userId);
      return {};
    },
    async listOwnedActiveCourses(req) {
      return courses.ownedActive(req.userId);
    },
    async listCourses(req, ctx) {
      const order = (req.orderBy || "start_time") as CatalogOrder;
      const page = await courses.catalog(
        me(ctx),
        {
          includeClosed: req.includeClosed,
          ...(req.keyword.trim() ? { keyword: req.keyword.trim() } : {}),
          ...(req.category ? { category: req.category } : {}),
          ...(req.level ? { level: req.level } : {}),
          ...(req.modality ? { modality: req.modality } : {}),
          ...(req.startAfter ? { startAfter: timestampDate(req.startAfter) } : {}),
          ...(req.startBefore ? { startBefore: timestampDate(req.startBefore) } : {}),
        },
        order,
        pageSize(req.pageSize),
        catalogPages[order].read(req),
      );
      const at = now();
      return {
        courses: page.items.map((c) => toCourse(c, at)),
        nextPageToken: catalogPages[order].write(page.next, req),
      };
    },
    async updateCourse(req, ctx) {
      // No course at all is a course of empty fields: what the mask names is validated as cleared.
      const input = fieldsFromInput(req.course ?? create(CourseInputSchema));
      const changes = maskedFields(input, req.updateMask?.paths, courseMaskPaths);
      const updated = await courses.update(req.courseId, me(ctx), req.etag, changes, (merged) =>
        assertValid(CourseInputSchema, inputFromFields(merged), "course"),
      );
      return { course: toCourse(updated, now()) };
    },
    async deleteCourse(req, ctx) {
      await courses.remove(req.courseId, me(ctx), req.etag);
      return {};
    },
    async listMyCourses(req, ctx) {
      const role =
        req.role === CourseRole.STUDENT
          ? "student"
          : req.role === CourseRole.OWNER || req.role === CourseRole.ASSISTANT
            ? "teacher"
            : undefined;
      const page = await courses.mine(
        me(ctx),
        {
          ...(role ? { role } : {}),
          ...(req.state !== CourseState.UNSPECIFIED ? { state: req.state } : {}),
          ...(req.name ? { name: req.name } : {}),
          ...(req.startAfter ? { startAfter: timestampDate(req.startAfter) } : {}),
        },
        pageSize(req.pageSize),
        myCoursePages.read(req),
      );
      const at = now();
      return {
        courses: page.items.map((c) => toCourse(c, at)),
        nextPageToken: myCoursePages.write(page.next, req),
      };
    },
    async finishCourse(req, ctx) {
      const course = await courses.finish(
        req.courseId,
        me(ctx),
        req.finalGrades.map((g) => ({ studentId: g.studentId, grade: g.grade })),
      );
      return { course: toCourse(course, now()) };
    },
    async reopenCourse(req, ctx) {
      return { course: toCourse(await courses.reopen(req.courseId, me(ctx)), now()) };
    },
    async addFavorite(req, ctx) {
      await courses.addFavorite(me(ctx), req.courseId);
      return {};
    },
    async removeFavorite(req, ctx) {
      await courses.removeFavorite(me(ctx), req.courseId);
      return {};
    },
    async listFavorites(req, ctx) {
      const page = await courses.favorites(
        me(ctx),
        { ...(req.category ? { category: req.category } : {}), ...(req.name ? { name: req.name } : {}) },
        pageSize(req.pageSize),
        favoritePages.read(req),
      );
      const at = now();
      return {
        courses: page.items.map((c) => toCourse(c, at)),
        nextPageToken: favoritePages.write(page.next, req),
      };
    },
  };
}
