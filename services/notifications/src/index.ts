export {
  migrationsDir,
  type NotificationsOverrides,
  type NotificationsServer,
  startNotificationsServer,
} from "./app.js";
export { type NotificationsConfig, readNotificationsConfig } from "./config.js";
export { createBrevoSender, createMailbox, type EmailMessage, type EmailSender } from "./ports/email.js";
export { createPushRecorder, type PushSender } from "./ports/push.js";
