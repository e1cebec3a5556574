/**
 * A stand-in for a provider's HTTPS host that cannot be reached from here
 * (Google's certificates, Firebase Cloud Messaging): a TLS server on loopback
 * with a self-signed certificate for `hostname`, and an https.Agent that sends
 * the real SDK's requests for that host to it, verifying the certificate.
 */
import type { RequestListener, RequestOptions } from "node:http";
import { Agent, createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { connect } from "node:tls";
import selfsigned from "selfsigned";

export interface LoopbackHttpsHost {
  /** Pass to the SDK (e.g. firebase-admin's `httpAgent`): its connections reach the handler. */
  agent: Agent;
  close(): Promise<void>;
}

export async function startLoopbackHttpsHost(
  hostname: string,
  handler: RequestListener,
): Promise<LoopbackHttpsHost> {
  const tls = await selfsigned.generate([{ name: "commonName", value: hostname }], {
    keySize: 2048,
    extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: hostname }] }],
  });
  const server = createServer({ key: tls.private, cert: tls.cert }, handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  class LoopbackAgent extends Agent {
    override createConnection(
      _options: RequestOptions,
      callback?: (err: Error | null, stream: Duplex) => void,
    ): Duplex {
      const socket = connect({ host: "127.0.0.1", port, servername: hostname, ca: tls.cert });
      if (callback) socket.once("secureConnect", () => callback(null, socket));
      return socket;
    }
  }
  const agent = new LoopbackAgent({ keepAlive: true, maxSockets: 32 });
  return {
    agent,
    async close() {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
