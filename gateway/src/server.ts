/**
 * The gateway's listener: HTTP/1.1 and cleartext HTTP/2 (h2c, prior knowledge)
 * on one port, told apart by the HTTP/2 connection preface; CORS for browsers;
 * static /blobs/ for locally stored files.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import * as http from "node:http";
import * as http2 from "node:http2";
import { type AddressInfo, createServer, type Socket } from "node:net";
import { extname, join, normalize } from "node:path";
import { cors } from "@connectrpc/connect";
import type { connectNodeAdapter } from "@connectrpc/connect-node";
import type { GatewayConfig } from "./config.js";
import { createGatewayHandler, type GatewayDeps } from "./gateway.js";

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

type NodeHandlerFn = NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>;

const contentTypes: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".webp": "image/webp",
};

function blobHandler(dir: string | undefined): NodeHandlerFn {
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://gateway");
    if (dir && req.method === "GET" && url.pathname.startsWith("/blobs/")) {
      const relative = normalize(decodeURIComponent(url.pathname.slice("/blobs/".length)));
      if (!relative.startsWith("..") && !relative.includes("\0")) {
        const path = join(dir, relative);
        try {
          const info = await stat(path);
          if (info.isFile()) {
            res.writeHead(200, {
              "content-type": contentTypes[extname(path)] ?? "application/octet-stream",
              "content-length": info.size,
              "x-content-type-options": "nosniff",
              "cache-control": "public, max-age=3600",
            });
            createReadStream(path).pipe(res as NodeJS.WritableStream);
            return;
          }
        } catch {}
      }
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
  };
}

function withCors(origins: string[], next: (req: Req, res: Res) => void) {
  const any = origins.includes("*");
  return (req: Req, res: Res) => {
    const origin = req.headers.origin;
    if (typeof origin === "string" && (any || origins.includes(origin))) {
      res.setHeader("access-control-allow-origin", any ? "*" : origin);
      if (!any) res.setHeader("vary", "origin");
      res.setHeader("access-control-expose-headers", cors.exposedHeaders.join(", "));
      if (req.method === "OPTIONS" && req.headers["access-control-request-method"]) {
        res.setHeader("access-control-allow-methods", cors.allowedMethods.join(", "));
        res.setHeader("access-control-allow-headers", [...cors.allowedHeaders, "authorization"].join(", "));
        res.setHeader("access-control-max-age", "7200");
        res.writeHead(204);
        res.end();
        return;
      }
    }
    next(req, res);
  };
}

export interface RunningGateway {
  port: number;
  url: string;
  close(): Promise<void>;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const connect = createGatewayHandler(config, deps, blobHandler(config.blobDir));
  const handler = withCors(config.corsOrigins, connect as (req: Req, res: Res) => void);
  const h1 = http.createServer(handler);
  h1.keepAliveTimeout = 65_000;
  const h2 = http2.createServer({}, handler);
  const h2Sessions = new Set<http2.Http2Session>();
  h2.on("session", (session) => {
    h2Sessions.add(session);
    session.on("close", () => h2Sessions.delete(session));
  });
  const sockets = new Set<Socket>();
  const listener = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.once("data", (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      const n = Math.min(chunk.length, H2_PREFACE.length);
      if (chunk.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) {
        // The HTTP/2 session takes the buffered bytes and reads the handle itself.
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(config.port, config.host, () => resolve());
  });
  const port = (listener.address() as AddressInfo).port;
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  deps.logger.info({ port }, "gateway listening");
  return {
    port,
    url: `http://${host === "::" ? "localhost" : host}:${port}`,
    async close() {
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      for (const session of h2Sessions) session.close();
      h1.closeIdleConnections();
      const deadline = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, 5000);
      deadline.unref();
      await closed;
      clearTimeout(deadline);
    },
  };
}
