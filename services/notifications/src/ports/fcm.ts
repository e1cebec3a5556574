import { type App, type Credential, deleteApp, initializeApp } from "firebase-admin/app";
import { getMessaging } from "firebase-admin/messaging";
import type { PushResult, PushSender } from "./push.js";

/** Error codes after which a token will never work again. */
const deadToken = new Set([
  "messaging/registration-token-not-registered",
  "messaging/invalid-registration-token",
  "messaging/invalid-argument",
]);

/**
 * Firebase Cloud Messaging through firebase-admin: multicast to up to 500
 * tokens per call; tokens FCM reports as unregistered are reported invalid so
 * the dispatcher removes them.
 */
export function createFcmSender(options: {
  projectId: string;
  credential: Credential;
}): PushSender & { close(): Promise<void> } {
  let app: App | undefined;
  const messaging = () => {
    app ??= initializeApp(
      { projectId: options.projectId, credential: options.credential },
      `classconnect-notifications-${Math.random().toString(36).slice(2)}`,
    );
    return getMessaging(app);
  };
  return {
    batchSize: 500,
    async sendMulticast(tokens, message): Promise<PushResult[]> {
      try {
        const res = await messaging().sendEachForMulticast({
          tokens,
          notification: { title: message.title, body: message.body },
          data: { link: message.link },
        });
        return res.responses.map((r) =>
          r.success
            ? { ok: true as const }
            : {
                ok: false as const,
                invalidToken: deadToken.has(r.error?.code ?? ""),
                retryable: !deadToken.has(r.error?.code ?? ""),
                reason: r.error?.code ?? "unknown",
              },
        );
      } catch (err) {
        return tokens.map(() => ({
          ok: false as const,
          retryable: true,
          invalidToken: false,
          reason: (err as Error).message,
        }));
      }
    },
    async close() {
      if (app) await deleteApp(app);
    },
  };
}
