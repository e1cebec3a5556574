import { mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";

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
      return `${publicBaseUrl.replace(/\/$/, "")}/${key}`;
    },
    async delete(key) {
      await rm(join(dir, safeKey(key)), { force: true });
    },
  };
}
