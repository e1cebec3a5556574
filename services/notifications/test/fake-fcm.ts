/**
 * A loopback fcm.googleapis.com for the real firebase-admin SDK (Google cannot
 * be reached from here): it answers the FCM v1 send API the way FCM does, by
 * token prefix — `dead…` UNREGISTERED (404), `bad…` INVALID_ARGUMENT (400),
 * `busy…` QUOTA_EXCEEDED (429), `flaky…` UNAVAILABLE (503) the first time,
 * anything else accepted — and records every request it received.
 */
import type { IncomingMessage } from "node:http";
import type { Agent } from "node:https";
import { startLoopbackHttpsHost } from "@classconnect/platform/testing";
import type { Credential } from "firebase-admin/app";

export interface FcmRequest {
  path: string;
  authorization: string | undefined;
  message: { token: string; notification: { title: string; body: string }; data: Record<string, string> };
}

export interface FakeFcm {
  /** Give to createFcmSender's `httpAgent`. */
  agent: Agent;
  /** A credential the SDK accepts (its custom-credential interface), with a fixed access token. */
  credential: Credential;
  accessToken: string;
  received: FcmRequest[];
  close(): Promise<void>;
}

const fcmError = (status: number, code: string, errorCode: string) => ({
  status,
  body: {
    error: {
      code: status,
      message: `test: ${code}`,
      status: code,
      details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode }],
    },
  },
});

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startFakeFcm(): Promise<FakeFcm> {
  const received: FcmRequest[] = [];
  const flakyAnswered = new Set<string>();
  const answerFor = (token: string, count: number) => {
    if (token.startsWith("dead")) return fcmError(404, "NOT_FOUND", "UNREGISTERED");
    if (token.startsWith("bad")) return fcmError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT");
    if (token.startsWith("busy")) return fcmError(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED");
    if (token.startsWith("flaky") && !flakyAnswered.has(token)) {
      flakyAnswered.add(token);
      return fcmError(503, "UNAVAILABLE", "UNAVAILABLE");
    }
    return { status: 200, body: { name: `projects/p/messages/${count}` } };
  };
  const accessToken = "test-access-token";
  const host = await startLoopbackHttpsHost("fcm.googleapis.com", async (req, res) => {
    const { message } = JSON.parse(await bodyOf(req)) as { message: FcmRequest["message"] };
    received.push({ path: req.url ?? "", authorization: req.headers.authorization, message });
    const answer = answerFor(message.token, received.length);
    res.writeHead(answer.status, { "content-type": "application/json" });
    res.end(JSON.stringify(answer.body));
  });
  return {
    agent: host.agent,
    accessToken,
    credential: { getAccessToken: async () => ({ access_token: accessToken, expires_in: 3600 }) },
    received,
    close: () => host.close(),
  };
}
