/**
 * A stand-in for a provider's HTTPS hosts that cannot be reached from here
 * (Google's certificates, OAuth token endpoint, Firebase Cloud Messaging): a TLS
 * server on loopback with a self-signed certificate for `hostnames`, and an
 * https.Agent that sends the real SDK's requests for those hosts to it, verifying
 * the certificate. The handler tells the hosts apart by the Host header.
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
  hostnames: string | string[],
  handler: RequestListener,
): Promise<LoopbackHttpsHost> {
  const names = typeof hostnames === "string" ? [hostnames] : hostnames;
  const tls = await selfsigned.generate([{ name: "commonName", value: names[0]! }], {
    keySize: 2048,
    extensions: [{ name: "subjectAltName", altNames: names.map((value) => ({ type: 2, value })) }],
  });
  const server = createServer({ key: tls.private, cert: tls.cert }, handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  class LoopbackAgent extends Agent {
    override createConnection(
      options: RequestOptions & { servername?: string },
      callback?: (err: Error | null, stream: Duplex) => void,
    ): Duplex {
      const servername = options.servername ?? options.hostname ?? options.host ?? names[0]!;
      const socket = connect({ host: "127.0.0.1", port, servername, ca: tls.cert });
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
