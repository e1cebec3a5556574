/**
 * A loopback stand-in for Google's certificate endpoint, so the real
 * firebase-admin `verifyIdToken` checks real RS256 signatures in tests.
 * This fake exists only because googleapis.com cannot be reached here: it
 * serves an X.509 certificate for a test key over HTTPS, and an https.Agent
 * routes firebase-admin's fetch of Google's certificate URL to it.
 */

import type { Agent } from "node:https";
import { startLoopbackHttpsHost } from "@classconnect/platform/testing";
import { importPKCS8, SignJWT } from "jose";
import selfsigned from "selfsigned";

export interface GoogleKeyServer {
  projectId: string;
  agent: Agent;
  /** Signs a Firebase ID token with the published test key (or `key: "other"` for an unpublished one). */
  idToken(
    claims: { uid: string; email: string; emailVerified?: boolean; name?: string; picture?: string },
    options?: {
      expiresInSeconds?: number;
      audience?: string;
      unpublishedKey?: boolean;
    },
  ): Promise<string>;
  close(): Promise<void>;
}

export async function startGoogleKeyServer(projectId = "classconnect-test"): Promise<GoogleKeyServer> {
  const signing = await selfsigned.generate([{ name: "commonName", value: "securetoken.test" }], {
    keySize: 2048,
  });
  const stranger = await selfsigned.generate([{ name: "commonName", value: "stranger.test" }], {
    keySize: 2048,
  });
  const kid = "test-key-1";
  const host = await startLoopbackHttpsHost("www.googleapis.com", (req, res) => {
    if (req.url?.startsWith("/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com")) {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=3600" });
      res.end(JSON.stringify({ [kid]: signing.cert }));
      return;
    }
    res.writeHead(404).end();
  });
  const agent = host.agent;

  return {
    projectId,
    agent,
    async idToken(claims, options = {}) {
      const pem = options.unpublishedKey ? stranger.private : signing.private;
      const key = await importPKCS8(pem, "RS256");
      const now = Math.floor(Date.now() / 1000);
      const exp = now + (options.expiresInSeconds ?? 3600);
      return new SignJWT({
        email: claims.email,
        email_verified: claims.emailVerified ?? true,
        name: claims.name ?? "",
        picture: claims.picture ?? "",
        auth_time: now - 10,
        firebase: { sign_in_provider: "google.com", identities: { email: [claims.email] } },
      })
        .setProtectedHeader({ alg: "RS256", kid, typ: "JWT" })
        .setIssuer(`https://securetoken.google.com/${projectId}`)
        .setAudience(options.audience ?? projectId)
        .setSubject(claims.uid)
        .setIssuedAt(
          options.expiresInSeconds !== undefined && options.expiresInSeconds < 0 ? exp - 3600 : now,
        )
        .setExpirationTime(exp)
        .sign(key);
    },
    close: () => host.close(),
  };
}
