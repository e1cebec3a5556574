export { type CoursesOverrides, migrationsDir, startCoursesServer } from "./app.js";
export { type CoursesConfig, readCoursesConfig } from "./config.js";
