/**
 * A loopback HTTP server that plays Brevo's transactional e-mail endpoint
 * (POST /v3/smtp/email), so the real @getbrevo/brevo SDK is exercised end to
 * end. It can be told to fail the next N calls with a status (429, 503, 400…).
 * This stand-in exists because api.brevo.com cannot be reached from here.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface BrevoCall {
  status: number;
  apiKey: string | undefined;
  body: {
    sender?: { email: string };
    messageVersions?: {
      to: { email: string }[];
      subject?: string;
      textContent?: string;
      htmlContent?: string;
    }[];
    to?: { email: string }[];
  };
}

export interface FakeBrevo {
  baseUrl: string;
  calls: BrevoCall[];
  /** Accepted recipients, in order. */
  delivered(): string[];
  /** The next `count` calls answer `status`. */
  failNext(count: number, status: number): void;
  /** Answer every call after this many milliseconds. */
  delayMs: number;
  close(): Promise<void>;
}

export async function startFakeBrevo(): Promise<FakeBrevo> {
  const calls: BrevoCall[] = [];
  const failures: number[] = [];
  const fake = { delayMs: 0 } as FakeBrevo;
  const server: Server = createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk) => {
      raw += chunk;
    });
    req.on("end", async () => {
      if (fake.delayMs > 0) await new Promise((r) => setTimeout(r, fake.delayMs));
      if (req.method !== "POST" || !req.url?.endsWith("/smtp/email")) {
        res.writeHead(404, { "content-type": "application/json" }).end('{"code":"not_found"}');
        return;
      }
      const status = failures.shift() ?? 201;
      const body = JSON.parse(raw || "{}") as BrevoCall["body"];
      calls.push({ status, apiKey: req.headers["api-key"] as string | undefined, body });
      if (status >= 300) {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(
          JSON.stringify({ code: status === 429 ? "too_many_requests" : "failure", message: "simulated" }),
        );
        return;
      }
      res.writeHead(201, { "content-type": "application/json" });
      const versions = body.messageVersions?.length ?? 0;
      res.end(
        JSON.stringify(
          versions > 0
            ? { messageIds: Array.from({ length: versions }, (_, i) => `<m${calls.length}.${i}@brevo.test>`) }
            : { messageId: `<m${calls.length}@brevo.test>` },
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(fake, {
    baseUrl: `http://127.0.0.1:${port}/v3`,
    calls,
    delivered: () =>
      calls
        .filter((c) => c.status < 300)
        .flatMap((c) =>
          (c.body.messageVersions ?? [{ to: c.body.to ?? [] }]).flatMap((v) => v.to.map((t) => t.email)),
        ),
    failNext(count: number, status: number) {
      for (let i = 0; i < count; i++) failures.push(status);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
  return fake;
}
