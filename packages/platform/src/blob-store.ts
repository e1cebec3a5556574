import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import type { EnvReader } from "./config.js";
import type { BaseServiceConfig } from "./service.js";

/** Object storage for avatars and course files. */
export interface BlobStore {
  /** Stores `bytes` under `key` and returns the public URL. */
  put(key: string, bytes: Uint8Array, contentType: string): Promise<string>;
  delete(key: string): Promise<void>;
}

function safeKey(key: string): string {
  const clean = normalize(key).replace(/^(\.\.(\/|\\|$))+/, "");
  if (clean !== key || key.startsWith("/") || key.includes("..")) throw new Error(`invalid blob key: ${key}`);
  return clean;
}

const publicUrlOf = (publicBaseUrl: string, key: string) => `${publicBaseUrl.replace(/\/$/, "")}/${key}`;

/**
 * The local adapter: files in `dir`, served at `publicBaseUrl/<key>` (the
 * gateway serves `/blobs/` from the same directory in local runs).
 */
export function createLocalBlobStore(dir: string, publicBaseUrl: string): BlobStore {
  return {
    async put(key, bytes) {
      const path = join(dir, safeKey(key));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, bytes);
      return publicUrlOf(publicBaseUrl, key);
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
  let loaded: Promise<{ sdk: Sdk; client: InstanceType<Sdk["S3Client"]> }> | undefined;
  const s3 = () =>
    (loaded ??= import("@aws-sdk/client-s3").then((sdk) => ({
      sdk,
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
    })));
  return {
    async put(key, bytes, contentType) {
      const { sdk, client } = await s3();
      await client.send(
        new sdk.PutObjectCommand({
          Bucket: options.bucket,
          Key: safeKey(key),
          Body: bytes,
          ContentType: contentType,
        }),
      );
      return publicUrlOf(options.publicUrl, key);
    },
    async delete(key) {
      const { sdk, client } = await s3();
      await client.send(new sdk.DeleteObjectCommand({ Bucket: options.bucket, Key: safeKey(key) }));
    },
  };
}

/** Where a service keeps its files: `BLOB_STORE` local (a directory, the default) or s3. */
export type BlobConfig =
  | { store: "local"; dir: string; publicUrl: string }
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
  if (config.store === "local") return createLocalBlobStore(config.dir, config.publicUrl);
  const { store: _, ...options } = config;
  return createS3BlobStore(options);
}
