/** Pictures people upload (avatars, course pictures): png, jpeg or webp, told by content. */
import { InvalidArgumentError } from "./errors.js";

export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;

export interface ImageType {
  contentType: "image/png" | "image/jpeg" | "image/webp";
  extension: "png" | "jpg" | "webp";
}

/** Recognises png, jpeg and webp by their leading bytes, whatever the client claims. */
export function sniffImage(bytes: Uint8Array): ImageType | undefined {
  const starts = (sig: number[], offset = 0) => sig.every((b, i) => bytes[offset + i] === b);
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
    return { contentType: "image/png", extension: "png" };
  if (starts([0xff, 0xd8, 0xff])) return { contentType: "image/jpeg", extension: "jpg" };
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) {
    return { contentType: "image/webp", extension: "webp" };
  }
  return undefined;
}

export function requireImage(bytes: Uint8Array): ImageType {
  if (bytes.length > MAX_IMAGE_BYTES) {
    throw new InvalidArgumentError([{ field: "content", description: "image must be at most 10 MB" }]);
  }
  const type = sniffImage(bytes);
  if (!type) {
    throw new InvalidArgumentError([
      { field: "content", description: "image must be a png, jpeg or webp file", reason: "IMAGE_TYPE" },
    ]);
  }
  return type;
}
