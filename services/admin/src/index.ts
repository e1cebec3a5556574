export { type AdminOverrides, migrationsDir, startAdminServer } from "./app.js";
export { type AdminConfig, readAdminConfig } from "./config.js";
