import type { Logger } from "@classconnect/platform";

export interface PushMessage {
  title: string;
  body: string;
  link: string;
}

/** Per token: sent, failed (retryable or not), or the token is no longer valid. */
export type PushResult =
  | { ok: true }
  | { ok: false; retryable: boolean; invalidToken: boolean; reason: string };

/** The push port: one multicast of up to `batchSize` device tokens. */
export interface PushSender {
  readonly batchSize: number;
  sendMulticast(tokens: string[], message: PushMessage): Promise<PushResult[]>;
}

/** The local adapter: records pushes in memory (and logs them at debug level). */
export function createPushRecorder(
  logger: Logger,
): PushSender & { sent: { tokens: string[]; message: PushMessage }[] } {
  const sent: { tokens: string[]; message: PushMessage }[] = [];
  return {
    batchSize: 500,
    sent,
    async sendMulticast(tokens, message) {
      sent.push({ tokens, message });
      logger.debug({ devices: tokens.length }, "push recorded");
      return tokens.map(() => ({ ok: true as const }));
    },
  };
}
