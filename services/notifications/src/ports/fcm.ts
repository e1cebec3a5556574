import type { Agent } from "node:https";
import { type App, type Credential, cert, deleteApp, initializeApp } from "firebase-admin/app";
import { getMessaging } from "firebase-admin/messaging";
import type { NotificationsConfig } from "../config.js";
import type { PushResult, PushSender } from "./push.js";

/** Error codes after which a token will never work again: the dispatcher removes it. */
const deadToken = new Set([
  "messaging/registration-token-not-registered",
  "messaging/invalid-registration-token",
]);

/**
 * Errors that sending the same message again cannot fix, although the token may
 * be fine (FCM answers INVALID_ARGUMENT for a bad payload too, so that is no
 * reason to drop a token).
 */
const permanent = new Set([
  "messaging/invalid-argument",
  "messaging/mismatched-credential",
  "messaging/invalid-package-name",
  "messaging/payload-size-limit-exceeded",
  "messaging/invalid-data-payload-key",
  "messaging/invalid-options",
  "messaging/third-party-auth-error",
]);

/**
 * The FCM sender the configuration asks for (FIREBASE_PROJECT_ID with a service account), or
 * none. A credentials file is handed to the SDK as a path: only then does firebase-admin send
 * its OAuth token request through `httpAgent` too (firebase-admin-node#2960).
 */
export function fcmSenderFromConfig(
  config: Pick<NotificationsConfig, "firebaseProjectId" | "firebaseCredentials">,
  httpAgent?: Agent,
): (PushSender & { close(): Promise<void> }) | undefined {
  const { firebaseProjectId: projectId, firebaseCredentials: credentials } = config;
  if (!projectId || !credentials) return undefined;
  const account = "file" in credentials ? credentials.file : JSON.parse(credentials.json);
  return createFcmSender({
    projectId,
    credential: cert(account, httpAgent),
    ...(httpAgent ? { httpAgent } : {}),
  });
}

/**
 * Firebase Cloud Messaging through firebase-admin: multicast to up to 500
 * tokens per call; tokens FCM reports as unregistered are reported invalid so
 * the dispatcher removes them.
 */
export function createFcmSender(options: {
  projectId: string;
  credential: Credential;
  /**
   * Routes the SDK's requests (tests: a loopback FCM). firebase-admin's HTTP/2
   * transport cannot take an agent, so with one the SDK uses its HTTP/1.1
   * transport; requests, responses and errors are the same.
   */
  httpAgent?: Agent;
}): PushSender & { close(): Promise<void> } {
  let app: App | undefined;
  const messaging = () => {
    app ??= initializeApp(
      {
        projectId: options.projectId,
        credential: options.credential,
        ...(options.httpAgent ? { httpAgent: options.httpAgent } : {}),
      },
      `classconnect-notifications-${Math.random().toString(36).slice(2)}`,
    );
    const m = getMessaging(app);
    if (options.httpAgent) m.enableLegacyHttpTransport();
    return m;
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
        return res.responses.map((r) => {
          if (r.success) return { ok: true as const };
          const code = r.error?.code ?? "unknown";
          return {
            ok: false as const,
            invalidToken: deadToken.has(code),
            retryable: !deadToken.has(code) && !permanent.has(code),
            reason: code,
          };
        });
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
