import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { enqueueEvent, type Logger, type Sql } from "@classconnect/platform";

/** An account e-mail the users service sends (activation PIN, password reset, warnings). */
export interface AccountMail {
  kind: "ACCOUNT_PIN" | "PASSWORD_RESET" | "WELCOME" | "PASSWORD_CHANGED" | "EMAIL_CHANGED";
  to: string;
  /** Template values: pin, reset_token, reset_link, first_name, new_email. */
  data: Record<string, string>;
}

/** The e-mail port. Production wiring goes through the notifications service. */
export interface Mailer {
  /**
   * Sends `mail`. With `tx`, the outbox adapter records it in that transaction, so that it
   * goes out exactly when the change it tells of commits (the local mailbox writes at once).
   */
  send(mail: AccountMail, tx?: Sql): Promise<void>;
}

/**
 * The local adapter: records every message in memory and, when `dir` is set, as
 * a JSON file there (a mailbox a developer can read). The log line names the
 * file, never the secret inside it.
 */
export function createRecordingMailer(logger: Logger, dir?: string): Mailer & { sent: AccountMail[] } {
  const sent: AccountMail[] = [];
  let counter = 0;
  return {
    sent,
    async send(mail) {
      sent.push(mail);
      if (!dir) return;
      await mkdir(dir, { recursive: true });
      const file = join(dir, `${Date.now()}-${++counter}-${mail.kind.toLowerCase()}.json`);
      await writeFile(file, JSON.stringify({ ...mail, sentAt: new Date().toISOString() }, null, 2));
      logger.info({ kind: mail.kind, file }, "mail recorded in local mailbox");
    },
  };
}

/**
 * The production adapter: each message becomes an event in the service's
 * outbox; the relay hands it to the notifications service (SendSystemEmail),
 * which sends it through Brevo. The secret inside is erased once delivered.
 */
export function createOutboxMailer(sql: Sql): Mailer {
  return {
    async send(mail, tx) {
      await enqueueEvent(tx ?? sql, { type: mail.kind, recipients: { email: mail.to }, data: mail.data });
    },
  };
}
