/**
 * Files stored for a course (module resources, handed-in work): private keys, read only
 * through short-lived links made for a caller who may read them.
 */
import { randomUUID } from "node:crypto";
import { type BlobStore, PRIVATE_BLOB_PREFIX } from "@classconnect/platform";

/** How long a link to a stored file reads it: long enough to open it, short enough not to spread. */
export const FILE_LINK_TTL_SECONDS = 15 * 60;

/**
 * A new private key for `fileName` under `area` of a course; the name kept readable, made
 * safe: word characters, `-` and single dots, never leading with a dot (so no `..` or `.`
 * segment, which no blob store accepts).
 */
export function privateFileKey(area: "modules" | "submissions", courseId: string, fileName: string): string {
  const safe =
    fileName
      .replace(/[^\w.-]+/g, "_")
      .replace(/\.{2,}/g, ".")
      .slice(-100)
      .replace(/^\.+/, "") || "file";
  return `${PRIVATE_BLOB_PREFIX}${area}/${courseId}/${randomUUID()}/${safe}`;
}

/** A link that reads `key` for FILE_LINK_TTL_SECONDS. */
export function fileLink(blobs: BlobStore, key: string): Promise<string> {
  return blobs.readUrl(key, FILE_LINK_TTL_SECONDS);
}
