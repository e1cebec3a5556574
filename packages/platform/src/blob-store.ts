import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import type { EnvReader } from "./config.js";
import { writeFileAtomically } from "./files.js";
import type { BaseServiceConfig } from "./service.js";

/**
 * Object storage for avatars and course files. Keys under `private/` (a student's
 * submitted files) are never served to whoever has their plain URL: they are read
 * through `readUrl`, a link that works for a limited time.
 */
export interface BlobStore {
  /**
   * Stores `bytes` under `key` and returns its URL (for a private key, one that does not
   * read it). The key's extension decides the type it is served with (`blobContentType`).
   */
  put(key: string, bytes: Uint8Array): Promise<string>;
  /** A URL that reads `key` for `ttlSeconds`, whoever holds it; for private keys, given to callers allowed to read them. */
  readUrl(key: string, ttlSeconds: number): Promise<string>;
  delete(key: string): Promise<void>;
}

/**
 * Runs `write`, which records the blobs at `keys` just stored; when it throws they are
 * deleted again (a blob left by a failed delete is only garbage) and its error is rethrown.
 */
export async function recordingBlobs<T>(
  blobs: BlobStore,
  keys: string[],
  write: () => Promise<T>,
): Promise<T> {
  try {
    return await write();
  } catch (err) {
    await Promise.allSettled(keys.map((key) => blobs.delete(key)));
    throw err;
  }
}

/**
 * The types a browser may show in place (pictures, PDF) by a key's extension; every other
 * file is served as an opaque download (`application/octet-stream`, with `nosniff`), so an
 * uploaded page or script never runs on the platform's origin.
 */
const SHOWN_IN_PLACE: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  webp: "image/webp",
  pdf: "application/pdf",
};

/**
 * The content type a blob is stored and served with, from its key's extension (see
 * SHOWN_IN_PLACE): the S3 store writes it, the gateway serves local blobs with it.
 */
export function blobContentType(key: string): string {
  const dot = key.lastIndexOf(".");
  const extension = dot > key.lastIndexOf("/") ? key.slice(dot + 1).toLowerCase() : "";
  return SHOWN_IN_PLACE[extension] ?? "application/octet-stream";
}

/** Keys that only time-limited read URLs serve. */
export const PRIVATE_BLOB_PREFIX = "private/";

/**
 * Whether `key` is a blob key as stores write them: relative, normalized, no `..`, no NUL.
 * Anything else names no file (the gateway's /blobs/ answers it 404), so no other spelling
 * of a private key escapes its signature check.
 */
export function isBlobKey(key: string): boolean {
  return (
    key !== "" && normalize(key) === key && !key.startsWith("/") && !key.includes("..") && !key.includes("\0")
  );
}

function safeKey(key: string): string {
  if (!isBlobKey(key)) throw new Error(`invalid blob key: ${key}`);
  return key;
}

const publicUrlOf = (publicBaseUrl: string, key: string) => `${publicBaseUrl.replace(/\/$/, "")}/${key}`;

const localSignature = (signingKey: string, key: string, expires: number) =>
  createHmac("sha256", signingKey).update(`${key}\n${expires}`).digest("base64url");

/**
 * Whether a local store's read URL (`?expires=<unix seconds>&signature=…`) was signed
 * with `signingKey` for `key` and has not expired (the gateway's check for private keys).
 */
export function verifyLocalReadUrl(
  signingKey: string,
  key: string,
  query: URLSearchParams,
  nowMs = Date.now(),
): boolean {
  const expires = Number(query.get("expires"));
  const given = Buffer.from(query.get("signature") ?? "");
  const expected = Buffer.from(localSignature(signingKey, key, expires));
  return (
    Number.isInteger(expires) &&
    expires * 1000 > nowMs &&
    given.length === expected.length &&
    timingSafeEqual(given, expected)
  );
}

/**
 * The local adapter: files in `dir`, served at `publicBaseUrl/<key>` (the
 * gateway serves `/blobs/` from the same directory in local runs). Read URLs are
 * signed with `signingKey`; the gateway serves private keys only with a valid one,
 * so it needs the same key (`npm start` gives every process one). Without it, a
 * key of its own: links it signs then read nothing private.
 */
export function createLocalBlobStore(
  dir: string,
  publicBaseUrl: string,
  signingKey: string = randomBytes(32).toString("base64url"),
): BlobStore {
  return {
    async put(key, bytes) {
      const path = join(dir, safeKey(key));
      await mkdir(dirname(path), { recursive: true });
      await writeFileAtomically(path, bytes);
      return publicUrlOf(publicBaseUrl, key);
    },
    async readUrl(key, ttlSeconds) {
      const expires = Math.floor(Date.now() / 1000) + ttlSeconds;
      const signature = localSignature(signingKey, safeKey(key), expires);
      return `${publicUrlOf(publicBaseUrl, key)}?expires=${expires}&signature=${signature}`;
    },
    async delete(key) {
      await rm(join(dir, safeKey(key)), { force: true });
    },
  };
}

export interface S3BlobOptions {
  bucket: string;
  region: string;
  /** Another host of the S3 API than AWS's: Supabase Storage (`https://<project>.supabase.co/storage/v1/s3`), MinIO, R2. */
  endpoint: string | undefined;
  /** `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint>/<key>` (Supabase and MinIO need it). */
  forcePathStyle: boolean;
  /** Where the bucket's objects are read publicly (a public bucket's URL, or a CDN in front of it). */
  publicUrl: string;
  /** Unset: the SDK's own chain (AWS_* variables, a web identity token, the instance's role). */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
}

/**
 * The production adapter: a bucket behind the S3 API, through the AWS SDK. The SDK is
 * loaded on the first call, so processes on the local adapter never load it.
 */
export function createS3BlobStore(options: S3BlobOptions): BlobStore {
  type Sdk = typeof import("@aws-sdk/client-s3");
  type Presigner = typeof import("@aws-sdk/s3-request-presigner");
  let loaded: Promise<{ sdk: Sdk; presigner: Presigner; client: InstanceType<Sdk["S3Client"]> }> | undefined;
  const s3 = () =>
    (loaded ??= Promise.all([import("@aws-sdk/client-s3"), import("@aws-sdk/s3-request-presigner")]).then(
      ([sdk, presigner]) => ({
        sdk,
        presigner,
        client: new sdk.S3Client({
          region: options.region,
          forcePathStyle: options.forcePathStyle,
          ...(options.endpoint ? { endpoint: options.endpoint } : {}),
          ...(options.credentials ? { credentials: options.credentials } : {}),
          // Checksums only where the operation requires them: hosts of the S3 API other than
          // AWS's refuse the SDK's default CRC32 headers (aws-sdk-js-v3 since 3.729).
          requestChecksumCalculation: "WHEN_REQUIRED",
          responseChecksumValidation: "WHEN_REQUIRED",
        }),
      }),
    ));
  return {
    async put(key, bytes) {
      const { sdk, client } = await s3();
      await client.send(
        new sdk.PutObjectCommand({
          Bucket: options.bucket,
          Key: safeKey(key),
          Body: bytes,
          ContentType: blobContentType(key),
        }),
      );
      return publicUrlOf(options.publicUrl, key);
    },
    async readUrl(key, ttlSeconds) {
      const { sdk, presigner, client } = await s3();
      const read = new sdk.GetObjectCommand({ Bucket: options.bucket, Key: safeKey(key) });
      return presigner.getSignedUrl(client, read, { expiresIn: ttlSeconds });
    },
    async delete(key) {
      const { sdk, client } = await s3();
      await client.send(new sdk.DeleteObjectCommand({ Bucket: options.bucket, Key: safeKey(key) }));
    },
  };
}

/** Where a service keeps its files: `BLOB_STORE` local (a directory, the default) or s3. */
export type BlobConfig =
  | { store: "local"; dir: string; publicUrl: string; signingKey: string | undefined }
  | ({ store: "s3" } & S3BlobOptions);

/** The settings of a service that stores files (users, courses). */
export interface FileServiceConfig extends BaseServiceConfig {
  blobs: BlobConfig;
}

/** The blob store's settings, for the services that store files. */
export function readBlobConfig(e: EnvReader): BlobConfig {
  const store = e.oneOf("BLOB_STORE", ["local", "s3"] as const, "local");
  if (store === "local") {
    return {
      store,
      dir: e.string("BLOB_DIR", ".data/blobs"),
      publicUrl: e.string("BLOB_PUBLIC_URL", "http://localhost:8080/blobs"),
      // Shared with the gateway, which checks read URLs of private files (npm start makes one).
      signingKey: e.requiredInProduction("BLOB_SIGNING_KEY"),
    };
  }
  const accessKeyId = e.optional("S3_ACCESS_KEY_ID");
  return {
    store,
    bucket: e.string("S3_BUCKET"),
    region: e.string("S3_REGION", "us-east-1"),
    endpoint: e.optional("S3_ENDPOINT"),
    forcePathStyle: e.bool("S3_FORCE_PATH_STYLE", false),
    // No local default: the URL the bucket is read at is the deployment's to say.
    publicUrl: e.string("BLOB_PUBLIC_URL"),
    // A key id needs its secret; neither leaves it to the SDK's chain.
    credentials:
      accessKeyId === undefined
        ? undefined
        : { accessKeyId, secretAccessKey: e.string("S3_SECRET_ACCESS_KEY") },
  };
}

export function createBlobStore(config: BlobConfig): BlobStore {
  if (config.store === "local") return createLocalBlobStore(config.dir, config.publicUrl, config.signingKey);
  const { store: _, ...options } = config;
  return createS3BlobStore(options);
}
