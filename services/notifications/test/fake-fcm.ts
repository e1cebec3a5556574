/**
 * A loopback fcm.googleapis.com for the real firebase-admin SDK (Google cannot
 * be reached from here): it answers the FCM v1 send API the way FCM does, by
 * token prefix — `dead…` UNREGISTERED (404), `bad…` INVALID_ARGUMENT (400),
 * `busy…` QUOTA_EXCEEDED (429), `flaky…` UNAVAILABLE (503) the first time,
 * anything else accepted — and records every request it received.
 *
 * It also plays Google's OAuth token endpoint (oauth2.googleapis.com) for a
 * service account it made: the JWT-bearer grant is answered with an access token
 * only when the assertion is signed by that account's key and names it.
 */
import { generateKeyPairSync } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Agent } from "node:https";
import { startLoopbackHttpsHost } from "@classconnect/platform/testing";
import type { Credential } from "firebase-admin/app";
import { jwtVerify } from "jose";

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
  /** A service-account file's contents (a fresh RSA key) that the token endpoint accepts. */
  serviceAccount: { type: string; project_id: string; client_email: string; private_key: string };
  /** The access token the token endpoint gives that account, and the grants it answered. */
  exchangedToken: string;
  tokenGrants: { grantType: string; accepted: boolean; scope?: unknown; refusal?: string }[];
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
  const exchangedToken = "exchanged-access-token";
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const serviceAccount = {
    type: "service_account",
    project_id: "classconnect-test",
    client_email: "push@classconnect-test.iam.gserviceaccount.com",
    private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
  const tokenGrants: FakeFcm["tokenGrants"] = [];
  const token = async (req: IncomingMessage) => {
    const form = new URLSearchParams(await bodyOf(req));
    const grantType = form.get("grant_type") ?? "";
    try {
      const { payload } = await jwtVerify(form.get("assertion") ?? "", publicKey, {
        issuer: serviceAccount.client_email,
        audience: "https://oauth2.googleapis.com/token",
      });
      tokenGrants.push({ grantType, accepted: true, scope: payload["scope"] });
      return { status: 200, body: { access_token: exchangedToken, expires_in: 3600, token_type: "Bearer" } };
    } catch (err) {
      tokenGrants.push({ grantType, accepted: false, refusal: (err as Error).message });
      return { status: 400, body: { error: "invalid_grant", error_description: "Invalid JWT Signature." } };
    }
  };
  const host = await startLoopbackHttpsHost(
    ["fcm.googleapis.com", "oauth2.googleapis.com"],
    async (req, res) => {
      if (req.headers.host === "oauth2.googleapis.com") {
        const answer = await token(req);
        res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
        return;
      }
      const { message } = JSON.parse(await bodyOf(req)) as { message: FcmRequest["message"] };
      received.push({ path: req.url ?? "", authorization: req.headers.authorization, message });
      const answer = answerFor(message.token, received.length);
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(JSON.stringify(answer.body));
    },
  );
  return {
    agent: host.agent,
    accessToken,
    credential: { getAccessToken: async () => ({ access_token: accessToken, expires_in: 3600 }) },
    received,
    serviceAccount,
    exchangedToken,
    tokenGrants,
    close: () => host.close(),
  };
}
