export { migrationsDir, startNotificationsServer } from "./app.js";
export { type NotificationsConfig, readNotificationsConfig } from "./config.js";
