/**
 * The gateway's listener: HTTP/1.1 and HTTP/2 on one port, in cleartext (h2c by prior
 * knowledge, told apart by the HTTP/2 connection preface) or over TLS (chosen by ALPN);
 * CORS for browsers; GET /healthz; static /blobs/ for locally stored files (private
 * ones only through a signed read URL).
 */
import { createReadStream, readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import * as http from "node:http";
import * as http2 from "node:http2";
import { type AddressInfo, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import * as tls from "node:tls";
import {
  blobContentType,
  isBlobKey,
  type Logger,
  limitHttp2Session,
  PRIVATE_BLOB_PREFIX,
  unparsableBinaryMessage,
  verifyLocalReadUrl,
} from "@classconnect/platform";
import { cors } from "@connectrpc/connect";
import type { connectNodeAdapter } from "@connectrpc/connect-node";
import type { GatewayConfig } from "./config.js";
import { createGatewayHandler, type GatewayDeps } from "./gateway.js";

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

type NodeHandlerFn = NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>;

/**
 * Serves `dir` at /blobs/. A private file (under PRIVATE_BLOB_PREFIX) only with a read
 * URL signed with `signingKey`, the services' BLOB_SIGNING_KEY; without that key, never.
 */
function blobHandler(dir: string | undefined, signingKey: string | undefined): NodeHandlerFn {
  return async (req, res) => {
    let pathname = "/";
    let query = new URLSearchParams();
    try {
      const url = new URL(req.url ?? "/", "http://gateway");
      pathname = url.pathname;
      query = url.searchParams;
    } catch {
      // Not a path we serve.
    }
    if (dir && req.method === "GET" && pathname.startsWith("/blobs/")) {
      let key = "";
      try {
        key = decodeURIComponent(pathname.slice("/blobs/".length));
      } catch {
        // Malformed escapes: not found.
      }
      const readable =
        isBlobKey(key) &&
        (!key.startsWith(PRIVATE_BLOB_PREFIX) ||
          (signingKey !== undefined && verifyLocalReadUrl(signingKey, key, query)));
      if (readable) {
        const path = join(dir, key);
        try {
          const info = await stat(path);
          if (info.isFile()) {
            res.writeHead(200, {
              "content-type": blobContentType(key),
              "content-length": info.size,
              "x-content-type-options": "nosniff",
              "cache-control": key.startsWith(PRIVATE_BLOB_PREFIX)
                ? "private, no-store"
                : "public, max-age=3600",
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

/**
 * GET /healthz: 200 while the process answers, for probes and load balancers that speak
 * only plain HTTP(S) (Kubernetes' gRPC probes cannot use TLS). Like Health.Check's "",
 * it does not follow the services.
 */
function withHealthz(next: NodeHandlerFn): NodeHandlerFn {
  return (req, res) => {
    if (req.url !== "/healthz" || (req.method !== "GET" && req.method !== "HEAD")) return next(req, res);
    res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" });
    res.end("ok\n");
  };
}

/** What a browser's script may read of an answer: Connect's and gRPC-Web's headers, and a 429's wait. */
const exposedHeaders = [...cors.exposedHeaders, "Retry-After"].join(", ");

/**
 * Every call's answer is the caller's own (course pages say whether the caller is enrolled,
 * and with what grade), so no cache may keep one: answers to GET, the Connect form meant for
 * caching, are `private, no-store` unless the handler says otherwise (public files do).
 */
function withUncachedAnswers(next: (req: Req, res: Res) => void) {
  return (req: Req, res: Res) => {
    if (req.method === "GET") res.setHeader("cache-control", "private, no-store");
    next(req, res);
  };
}

function withCors(origins: string[], next: (req: Req, res: Res) => void) {
  const any = origins.includes("*");
  return (req: Req, res: Res) => {
    const origin = req.headers.origin;
    if (typeof origin === "string" && (any || origins.includes(origin))) {
      res.setHeader("access-control-allow-origin", any ? "*" : origin);
      if (!any) res.setHeader("vary", "origin");
      res.setHeader("access-control-expose-headers", exposedHeaders);
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

/**
 * connect-node answers a Connect unary request whose binary body is not a
 * valid message with 500 "internal" ("parse binary: …"), though the client is
 * at fault (JSON bodies get invalid_argument). At the edge, that answer is
 * rewritten to 400 invalid_argument. Only 500 responses are buffered.
 */
function clientFaultForUnparsableBinary(next: (req: Req, res: Res) => void) {
  return (req: Req, res: Res) => {
    if (!String(req.headers["content-type"] ?? "").startsWith("application/proto")) return next(req, res);
    const r = res as http.ServerResponse;
    const writeHead = r.writeHead.bind(r) as (...args: unknown[]) => http.ServerResponse;
    const write = r.write.bind(r) as (...args: unknown[]) => boolean;
    const end = r.end.bind(r) as (...args: unknown[]) => http.ServerResponse;
    let held: unknown[] | undefined;
    const body: Buffer[] = [];
    r.writeHead = ((...args: unknown[]) => {
      if (args[0] === 500) {
        held = args;
        return r;
      }
      return writeHead(...args);
    }) as typeof r.writeHead;
    r.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (!held) return write(chunk, ...rest);
      body.push(Buffer.from(chunk as Uint8Array));
      return true;
    }) as typeof r.write;
    r.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (!held) return end(chunk, ...rest);
      if (chunk && typeof chunk !== "function") body.push(Buffer.from(chunk as Uint8Array));
      const text = Buffer.concat(body).toString();
      if (text.includes('"parse binary:')) {
        const message = JSON.stringify({
          code: "invalid_argument",
          message: unparsableBinaryMessage,
        });
        writeHead(400, { "content-type": "application/json", "content-length": Buffer.byteLength(message) });
        return end(message);
      }
      writeHead(...held);
      return end(Buffer.concat(body));
    }) as typeof r.end;
    next(req, res);
  };
}

export interface RunningGateway {
  port: number;
  url: string;
  close(): Promise<void>;
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

type TlsFiles = NonNullable<GatewayConfig["tls"]>;

function readTlsPair(files: TlsFiles): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
}

/**
 * Takes up a renewed certificate without a restart: the files are read again when they
 * change (a Kubernetes Secret volume swaps them in place; cert-manager renews every few
 * weeks), checked every `reloadCheckMs` (a minute). New connections get the new pair; a pair that does not
 * load is logged and the current one kept.
 */
function reloadTlsOnChange(server: tls.Server, files: TlsFiles, logger: Logger) {
  const stamp = () => {
    try {
      return [files.certFile, files.keyFile].map((f) => readFileSync(f).toString("base64")).join(".");
    } catch {
      return "";
    }
  };
  let last = stamp();
  const timer = setInterval(() => {
    const now = stamp();
    if (!now || now === last) return;
    try {
      server.setSecureContext(readTlsPair(files));
      last = now;
      logger.info({ certFile: files.certFile }, "TLS certificate reloaded");
    } catch (err) {
      logger.warn(
        { err: String(err) },
        "TLS certificate files changed but do not load; keeping the current pair",
      );
    }
  }, files.reloadCheckMs);
  timer.unref();
  return () => clearInterval(timer);
}

export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const connect = createGatewayHandler(
    config,
    deps,
    withHealthz(blobHandler(config.blobDir, config.blobSigningKey)),
    (connectNode) =>
      clientFaultForUnparsableBinary(connectNode as (req: Req, res: Res) => void) as typeof connectNode,
  );
  const handler = withCors(config.corsOrigins, withUncachedAnswers(connect as (req: Req, res: Res) => void));
  const h1 = http.createServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      // node:http checks for slow clients on this interval (30 s by default).
      connectionsCheckingInterval: Math.min(30_000, Math.ceil(config.headersTimeoutMs / 2)),
    },
    handler,
  );
  h1.keepAliveTimeout = config.keepAliveTimeoutMs;
  const h2 = http2.createServer({}, handler);
  const h2Sessions = new Set<http2.Http2Session>();
  h2.on("session", (session) => {
    h2Sessions.add(session);
    session.on("close", () => h2Sessions.delete(session));
    limitHttp2Session(session, {
      idleTimeoutMs: config.keepAliveTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
    });
  });
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    // Until its first byte a connection is in neither protocol's hands: a reset then must
    // not become an uncaught error (it would end the process).
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  };
  const tlsFiles = config.tls;
  let listener: Server;
  let stopReloading = () => {};
  if (tlsFiles) {
    // TLS: ALPN chooses the protocol (h2 or http/1.1); a silent client is cut off by the
    // handshake timeout.
    const secure = tls.createServer({
      ...readTlsPair(tlsFiles),
      ALPNProtocols: ["h2", "http/1.1"],
      minVersion: "TLSv1.2",
      handshakeTimeout: config.headersTimeoutMs,
    });
    secure.on("connection", track);
    secure.on("secureConnection", (socket: tls.TLSSocket) => {
      if (socket.alpnProtocol === "h2") h2.emit("connection", socket);
      else h1.emit("connection", socket);
    });
    stopReloading = reloadTlsOnChange(secure, tlsFiles, deps.logger);
    listener = secure;
  } else {
    // Cleartext: HTTP/1.1 and h2c (prior knowledge), told apart by the HTTP/2 preface.
    listener = createServer((socket) => {
      track(socket);
      const silent = setTimeout(() => socket.destroy(), config.headersTimeoutMs);
      socket.on("close", () => clearTimeout(silent));
      socket.once("data", (chunk: Buffer) => {
        clearTimeout(silent);
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
  }
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(config.port, config.host, () => resolve());
  });
  // `h1` never listens itself (the listener hands it sockets), and node:http starts its
  // connection tracking on 'listening': without it, headersTimeout and requestTimeout
  // (slow clients) are never enforced and closeIdleConnections() finds nothing to close.
  h1.emit("listening");
  const port = (listener.address() as AddressInfo).port;
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  deps.logger.info({ port }, "gateway listening");
  return {
    port,
    url: `${tlsFiles ? "https" : "http"}://${host === "::" ? "localhost" : host}:${port}`,
    async close() {
      stopReloading();
      const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
      for (const session of h2Sessions) session.close();
      // Closes idle keep-alive connections and stops the tracking timer (h1 itself is not listening).
      h1.close();
      const deadline = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, 5000);
      deadline.unref();
      await closed;
      clearTimeout(deadline);
    },
  };
}
