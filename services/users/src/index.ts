export { migrationsDir, startUsersServer, type UsersOverrides, type UsersServer } from "./app.js";
export { readUsersConfig, type UsersConfig } from "./config.js";
export { createFirebaseGoogleVerifier, type GoogleVerifier } from "./ports/google.js";
export type { AccountMail, Mailer } from "./ports/mailer.js";
export { createRecordingMailer } from "./ports/mailer.js";
