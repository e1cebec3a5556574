export { migrationsDir, type NotificationsOverrides, startNotificationsServer } from "./app.js";
export { type NotificationsConfig, readNotificationsConfig } from "./config.js";
