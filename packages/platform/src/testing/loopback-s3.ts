/**
 * An S3 API host on loopback, for the S3 blob store's tests (no bucket can be reached
 * from here): path-style PutObject, GetObject and DeleteObject on one bucket, objects in
 * memory, and every request's Signature Version 4 checked against its own credentials
 * the way S3 checks it, so a request the real SDK signed wrongly, or with other
 * credentials, is refused as S3 would refuse it.
 */
import { createHash, createHmac } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface LoopbackS3 {
  /** The S3 endpoint (S3_ENDPOINT), path-style. */
  endpoint: string;
  region: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The bucket's objects by key. */
  objects: Map<string, { body: Buffer; contentType: string | undefined }>;
  /** S3's error code for each request it refused, in order. */
  refused: string[];
  close(): Promise<void>;
}

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** The signature S3 expects for `req` (SigV4, service s3), or the reason it cannot be checked. */
function expectedSignature(
  req: IncomingMessage,
  body: Buffer,
  secretAccessKey: string,
  scope: { date: string; region: string },
  signedHeaders: string[],
): string | { error: string } {
  const payloadHash = String(req.headers["x-amz-content-sha256"] ?? "");
  if (payloadHash !== "UNSIGNED-PAYLOAD" && payloadHash !== sha256(body)) {
    return { error: "XAmzContentSHA256Mismatch" };
  }
  const url = new URL(req.url ?? "/", "http://s3");
  const query = [...url.searchParams]
    .map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const headers = signedHeaders.map((name) => `${name}:${String(req.headers[name] ?? "").trim()}\n`).join("");
  const canonical = [req.method, url.pathname, query, headers, signedHeaders.join(";"), payloadHash].join(
    "\n",
  );
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    String(req.headers["x-amz-date"]),
    `${scope.date}/${scope.region}/s3/aws4_request`,
    sha256(canonical),
  ].join("\n");
  let key = hmac(`AWS4${secretAccessKey}`, scope.date);
  for (const part of [scope.region, "s3", "aws4_request"]) key = hmac(key, part);
  return createHmac("sha256", key).update(stringToSign).digest("hex");
}

export async function startLoopbackS3(
  options: { bucket?: string; region?: string } = {},
): Promise<LoopbackS3> {
  const bucket = options.bucket ?? "classconnect-files";
  const region = options.region ?? "eu-west-1";
  const credentials = { accessKeyId: "AKIALOOPBACKTEST", secretAccessKey: "loopback-secret-access-key" };
  const objects: LoopbackS3["objects"] = new Map();
  const refused: string[] = [];

  const fail = (res: ServerResponse, status: number, code: string) => {
    refused.push(code);
    res.writeHead(status, { "content-type": "application/xml" });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`,
    );
  };
  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const auth =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
        String(req.headers.authorization ?? ""),
      );
    if (!auth) return fail(res, 403, "AccessDenied");
    const [, accessKeyId, date, signedRegion, signedHeaders, signature] = auth as unknown as string[];
    if (accessKeyId !== credentials.accessKeyId) return fail(res, 403, "InvalidAccessKeyId");
    if (signedRegion !== region) return fail(res, 400, "AuthorizationHeaderMalformed");
    const expected = expectedSignature(
      req,
      body,
      credentials.secretAccessKey,
      { date: date!, region },
      signedHeaders!.split(";"),
    );
    if (typeof expected !== "string") return fail(res, 400, expected.error);
    if (expected !== signature) return fail(res, 403, "SignatureDoesNotMatch");

    const path = new URL(req.url ?? "/", "http://s3").pathname;
    const slash = path.indexOf("/", 1);
    if (slash < 0 || decodeURIComponent(path.slice(1, slash)) !== bucket)
      return fail(res, 404, "NoSuchBucket");
    const key = decodeURIComponent(path.slice(slash + 1));
    switch (req.method) {
      case "PUT":
        objects.set(key, { body, contentType: req.headers["content-type"] });
        res.writeHead(200, { etag: `"${createHash("md5").update(body).digest("hex")}"` });
        return res.end();
      case "GET": {
        const object = objects.get(key);
        if (!object) return fail(res, 404, "NoSuchKey");
        res.writeHead(200, { "content-type": object.contentType ?? "binary/octet-stream" });
        return res.end(object.body);
      }
      case "DELETE":
        // S3 answers a delete of a missing key the same way.
        objects.delete(key);
        res.writeHead(204);
        return res.end();
      default:
        return fail(res, 405, "MethodNotAllowed");
    }
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region,
    bucket,
    credentials,
    objects,
    refused,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
