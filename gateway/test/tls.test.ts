/**
 * The gateway terminating TLS itself (GATEWAY_TLS_CERT_FILE, GATEWAY_TLS_KEY_FILE): HTTP/1.1
 * and HTTP/2 by ALPN on one port, a renewed certificate taken up without a restart, and a
 * broken one never replacing a working one.
 */

import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type TLSSocket } from "node:tls";
import { Health, HealthCheckResponse_ServingStatus } from "@classconnect/gen/grpc/health/v1/health_pb.js";
import { ConfigError } from "@classconnect/platform";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import selfsigned from "selfsigned";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readGatewayConfig } from "../src/config.js";
import type { RunningGateway } from "../src/server.js";
import { startLoneGateway } from "./system.js";

interface Pair {
  cert: string;
  key: string;
}

/** A self-signed pair for 127.0.0.1; `name` tells two apart (a verifier looks its CA up by name). */
const newPair = async (name: string): Promise<Pair> => {
  const p = await selfsigned.generate([{ name: "commonName", value: name }], {
    keySize: 2048,
    extensions: [{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] }],
  });
  return { cert: p.cert, key: p.private };
};

const test = suite<{ dir: string; first: Pair; gateway: RunningGateway }>("gateway: TLS");
test.before(async (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "classconnect-gw-tls-"));
  ctx.first = await newPair("first");
  await writeFile(join(ctx.dir, "tls.crt"), ctx.first.cert);
  await writeFile(join(ctx.dir, "tls.key"), ctx.first.key);
  ctx.gateway = await startLoneGateway({
    GATEWAY_TLS_CERT_FILE: join(ctx.dir, "tls.crt"),
    GATEWAY_TLS_KEY_FILE: join(ctx.dir, "tls.key"),
    GATEWAY_TLS_RELOAD_CHECK_MS: "100",
  });
});
test.after(async (ctx) => {
  await ctx.gateway?.close();
  await rm(ctx.dir, { recursive: true, force: true });
});

/** The certificate a new connection is shown, and the protocol ALPN chose. */
function handshake(port: number, ca: string[], alpn: string[]) {
  return new Promise<{ cert: string; protocol: string | false }>((resolve, reject) => {
    const socket: TLSSocket = connect({ host: "127.0.0.1", port, ca, ALPNProtocols: alpn }, () => {
      const cert = socket.getPeerCertificate().fingerprint256;
      const protocol = socket.alpnProtocol ?? false;
      socket.end();
      resolve({ cert, protocol });
    });
    socket.once("error", reject);
  });
}

/** Health.Check as Connect JSON (or another path, with GET) over HTTP/1.1 and TLS. */
function checkOverHttp1(url: string, ca: string, path = "/grpc.health.v1.Health/Check") {
  const method = path.startsWith("/grpc.") ? "POST" : "GET";
  return new Promise<{ status: number; body: string; protocol: string }>((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method, ca, headers: { "content-type": "application/json" }, agent: false },
      (res) => {
        let body = "";
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            body,
            protocol: String((res.socket as TLSSocket).alpnProtocol),
          }),
        );
      },
    );
    req.once("error", reject);
    req.end(method === "POST" ? "{}" : undefined);
  });
}

test("one port: HTTP/1.1 (Connect JSON) and HTTP/2 (gRPC) over TLS, chosen by ALPN", async ({
  gateway,
  first,
}) => {
  assert.match(gateway.url, /^https:\/\//);
  const h1 = await checkOverHttp1(gateway.url, first.cert);
  // node:https offers no ALPN: a client that names no protocol is served HTTP/1.1.
  assert.equal(h1, { status: 200, body: '{"status":"SERVING"}', protocol: "false" });
  assert.is((await handshake(gateway.port, [first.cert], ["http/1.1"])).protocol, "http/1.1");
  // The probe path for what speaks only HTTPS (Kubernetes' gRPC probes have no TLS).
  const healthz = await checkOverHttp1(gateway.url, first.cert, "/healthz");
  assert.equal([healthz.status, healthz.body], [200, "ok\n"]);
  const grpc = createClient(
    Health,
    createGrpcTransport({ baseUrl: gateway.url, nodeOptions: { ca: first.cert } }),
  );
  assert.is((await grpc.check({})).status, HealthCheckResponse_ServingStatus.SERVING);
  assert.is((await handshake(gateway.port, [first.cert], ["h2", "http/1.1"])).protocol, "h2");
  // Cleartext gets no answer from a TLS port.
  const plain = await fetch(`http://127.0.0.1:${gateway.port}/grpc.health.v1.Health/Check`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  }).then(
    (res) => res.status,
    () => "refused",
  );
  assert.is(plain, "refused");
});

test("the image's health check asks a TLS gateway over TLS", async ({ dir, gateway }) => {
  const check = (env: Record<string, string>) =>
    new Promise<number | null>((resolve) => {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "packages/platform/src/healthcheck.ts", String(gateway.port)],
        { env: { ...process.env, ...env }, stdio: "ignore" },
      );
      child.once("exit", resolve);
    });
  assert.is(await check({ GATEWAY_TLS_CERT_FILE: join(dir, "tls.crt") }), 0);
  assert.is(await check({ GATEWAY_TLS_CERT_FILE: "" }), 1, "cleartext gets no answer");
});

test("a renewed certificate is taken up without a restart; files that do not load change nothing", async ({
  dir,
  gateway,
  first,
}) => {
  const second = await newPair("second");
  const both = [first.cert, second.cert];
  const before = (await handshake(gateway.port, both, ["h2"])).cert;
  // Broken files (a key that is not a key) are not taken up: the working pair stays.
  await writeFile(join(dir, "tls.key"), "not a key");
  await sleep(400);
  assert.is((await handshake(gateway.port, both, ["h2"])).cert, before);
  await writeFile(join(dir, "tls.crt"), second.cert);
  await writeFile(join(dir, "tls.key"), second.key);
  let after = before;
  for (let i = 0; i < 50 && after === before; i++) {
    await sleep(100);
    after = (await handshake(gateway.port, both, ["h2"])).cert;
  }
  assert.is.not(after, before, "the new certificate is shown to new connections");
  const h1 = await checkOverHttp1(gateway.url, second.cert);
  assert.is(h1.status, 200);
});

test("the certificate without its key (or the key alone) is a configuration error naming the other", () => {
  for (const [given, missing] of [
    ["GATEWAY_TLS_CERT_FILE", "GATEWAY_TLS_KEY_FILE"],
    ["GATEWAY_TLS_KEY_FILE", "GATEWAY_TLS_CERT_FILE"],
  ] as const) {
    try {
      readGatewayConfig({ [given]: "/etc/tls/file.pem" });
      assert.unreachable(`${given} alone was accepted`);
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.equal((err as ConfigError).problems, [`${missing} is required`]);
    }
  }
  assert.is(readGatewayConfig({}).tls, undefined, "neither: cleartext");
});

test.run();
