/**
 * An S3 API host on loopback, for the S3 blob store's tests (no bucket can be reached
 * from here): path-style PutObject, GetObject and DeleteObject on one bucket, objects in
 * memory, and every request's Signature Version 4 (in its Authorization header, or in the
 * query of a presigned URL, with its expiry) checked against its own credentials the way
 * S3 checks it, so a request the real SDK signed wrongly, or with other credentials, is
 * refused as S3 would refuse it.
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
/** SigV4's URI encoding: everything but A–Z, a–z, 0–9 and `-_.~`. */
const awsEncode = (value: string) =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** What a request's signature covers: from its Authorization header, or a presigned URL's query. */
interface Signed {
  accessKeyId: string;
  date: string;
  region: string;
  signedHeaders: string[];
  signature: string;
  /** X-Amz-Date: yyyymmddThhmmssZ. */
  amzDate: string;
  payloadHash: string;
  /** A presigned URL's lifetime in seconds; undefined for a signed header. */
  expiresIn: number | undefined;
}

const credentialPattern = /^([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request$/;

function signedPart(req: IncomingMessage, url: URL): Signed | undefined {
  const header =
    /^AWS4-HMAC-SHA256 Credential=(\S+), ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
      String(req.headers.authorization ?? ""),
    );
  const q = url.searchParams;
  const fromQuery = q.get("X-Amz-Algorithm") === "AWS4-HMAC-SHA256";
  const credential = credentialPattern.exec((header ? header[1] : q.get("X-Amz-Credential")) ?? "");
  if ((!header && !fromQuery) || !credential) return undefined;
  return {
    accessKeyId: credential[1]!,
    date: credential[2]!,
    region: credential[3]!,
    signedHeaders: ((header ? header[2] : q.get("X-Amz-SignedHeaders")) ?? "").split(";"),
    signature: (header ? header[3] : q.get("X-Amz-Signature")) ?? "",
    amzDate: (header ? String(req.headers["x-amz-date"]) : q.get("X-Amz-Date")) ?? "",
    payloadHash: header ? String(req.headers["x-amz-content-sha256"] ?? "") : "UNSIGNED-PAYLOAD",
    expiresIn: header ? undefined : Number(q.get("X-Amz-Expires")),
  };
}

/** The signature S3 expects for `req` (SigV4, service s3), or the reason it cannot be checked. */
function expectedSignature(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  secretAccessKey: string,
  signed: Signed,
): string | { error: string } {
  if (signed.payloadHash !== "UNSIGNED-PAYLOAD" && signed.payloadHash !== sha256(body)) {
    return { error: "XAmzContentSHA256Mismatch" };
  }
  const query = [...url.searchParams]
    .filter(([k]) => k !== "X-Amz-Signature")
    .map(([k, v]) => [awsEncode(k), awsEncode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const headers = signed.signedHeaders
    .map((name) => `${name}:${String(req.headers[name] ?? "").trim()}\n`)
    .join("");
  const canonical = [
    req.method,
    url.pathname,
    query,
    headers,
    signed.signedHeaders.join(";"),
    signed.payloadHash,
  ].join("\n");
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    signed.amzDate,
    `${signed.date}/${signed.region}/s3/aws4_request`,
    sha256(canonical),
  ].join("\n");
  let key = hmac(`AWS4${secretAccessKey}`, signed.date);
  for (const part of [signed.region, "s3", "aws4_request"]) key = hmac(key, part);
  return createHmac("sha256", key).update(stringToSign).digest("hex");
}

function expired(signed: Signed): boolean {
  if (signed.expiresIn === undefined) return false;
  const d = signed.amzDate;
  const signedAt = Date.UTC(
    +d.slice(0, 4),
    +d.slice(4, 6) - 1,
    +d.slice(6, 8),
    +d.slice(9, 11),
    +d.slice(11, 13),
    +d.slice(13, 15),
  );
  return !(signedAt + signed.expiresIn * 1000 >= Date.now());
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
    const url = new URL(req.url ?? "/", "http://s3");
    const signed = signedPart(req, url);
    if (!signed) return fail(res, 403, "AccessDenied");
    if (signed.accessKeyId !== credentials.accessKeyId) return fail(res, 403, "InvalidAccessKeyId");
    if (signed.region !== region) return fail(res, 400, "AuthorizationHeaderMalformed");
    const expected = expectedSignature(req, url, body, credentials.secretAccessKey, signed);
    if (typeof expected !== "string") return fail(res, 400, expected.error);
    if (expected !== signed.signature) return fail(res, 403, "SignatureDoesNotMatch");
    if (expired(signed)) return fail(res, 403, "AccessDenied");

    const slash = url.pathname.indexOf("/", 1);
    if (slash < 0 || decodeURIComponent(url.pathname.slice(1, slash)) !== bucket) {
      return fail(res, 404, "NoSuchBucket");
    }
    const key = decodeURIComponent(url.pathname.slice(slash + 1));
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
