import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Logger, writeFileAtomically } from "@classconnect/platform";
import { BrevoClient } from "@getbrevo/brevo";

export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** Per message: sent, or failed (retryable or not) with a reason. */
export type SendResult = { ok: true } | { ok: false; retryable: boolean; reason: string };

/** The e-mail port. `sendBatch` sends up to `batchSize` messages with one provider call where it can. */
export interface EmailSender {
  readonly batchSize: number;
  sendBatch(messages: EmailMessage[]): Promise<SendResult[]>;
}

/**
 * Brevo's transactional API through the official SDK. A batch is one call with
 * `messageVersions` (one version per recipient, each with its own content).
 * The SDK's own retries are off: the dispatcher retries with backoff and logs
 * every attempt.
 */
export function createBrevoSender(options: {
  apiKey: string;
  sender: { email: string; name: string };
  baseUrl?: string;
  timeoutSeconds?: number;
}): EmailSender {
  const brevo = new BrevoClient({
    apiKey: options.apiKey,
    maxRetries: 0,
    timeoutInSeconds: options.timeoutSeconds ?? 15,
    ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
  });
  return {
    batchSize: 100,
    async sendBatch(messages) {
      if (messages.length === 0) return [];
      try {
        await brevo.transactionalEmails.sendTransacEmail({
          sender: options.sender,
          subject: messages[0]!.subject,
          htmlContent: messages[0]!.html,
          messageVersions: messages.map((m) => ({
            to: [{ email: m.to }],
            subject: m.subject,
            htmlContent: m.html,
            textContent: m.text,
          })),
        });
        return messages.map(() => ({ ok: true as const }));
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        const retryable = status === undefined || status === 429 || status >= 500;
        const reason = status ? `brevo answered ${status}` : `brevo unreachable: ${(err as Error).message}`;
        return messages.map(() => ({ ok: false as const, retryable, reason }));
      }
    },
  };
}

/**
 * The local adapter: a mailbox that records every message in memory and, when
 * `dir` is set, as a JSON file a developer can open.
 */
export function createMailbox(logger: Logger, dir?: string): EmailSender & { messages: EmailMessage[] } {
  const messages: EmailMessage[] = [];
  let n = 0;
  return {
    batchSize: 100,
    messages,
    async sendBatch(batch) {
      messages.push(...batch);
      if (dir) {
        await mkdir(dir, { recursive: true });
        for (const m of batch) {
          const file = join(dir, `${Date.now()}-${++n}.json`);
          await writeFileAtomically(
            file,
            JSON.stringify({ ...m, sentAt: new Date().toISOString() }, null, 2),
          );
          logger.info({ file }, "e-mail recorded in local mailbox");
        }
      }
      return batch.map(() => ({ ok: true as const }));
    },
  };
}
