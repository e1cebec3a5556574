/**
 * A loopback stand-in for Google's certificate endpoint, so the real
 * firebase-admin `verifyIdToken` checks real RS256 signatures in tests.
 * This fake exists only because googleapis.com cannot be reached here: it
 * serves an X.509 certificate for a test key over HTTPS, and an https.Agent
 * routes firebase-admin's fetch of Google's certificate URL to it.
 */

import type { RequestOptions } from "node:http";
import { Agent, createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { connect } from "node:tls";
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
  const tls = await selfsigned.generate([{ name: "commonName", value: "www.googleapis.com" }], {
    keySize: 2048,
    extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: "www.googleapis.com" }] }],
  });
  const kid = "test-key-1";
  const server: Server = createServer({ key: tls.private, cert: tls.cert }, (req, res) => {
    if (req.url?.startsWith("/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com")) {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "public, max-age=3600" });
      res.end(JSON.stringify({ [kid]: signing.cert }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  class LoopbackAgent extends Agent {
    override createConnection(
      _options: RequestOptions,
      callback?: (err: Error | null, stream: Duplex) => void,
    ): Duplex {
      const socket = connect({ host: "127.0.0.1", port, servername: "www.googleapis.com", ca: tls.cert });
      if (callback) socket.once("secureConnect", () => callback(null, socket));
      return socket;
    }
  }
  const agent = new LoopbackAgent({ keepAlive: false });

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
    async close() {
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
