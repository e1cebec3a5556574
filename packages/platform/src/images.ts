/**
 * Pictures people upload (avatars, course pictures): png, jpeg or webp, told by content,
 * with a readable header and a size every client can draw.
 */
import { InvalidArgumentError } from "./errors.js";

export const MAX_IMAGE_BYTES = 10 * 1024 * 1024;
/** The longest side accepted, in pixels. */
export const MAX_IMAGE_SIDE = 16_384;
/**
 * The most pixels accepted (64 megapixels, 256 MB decoded as RGBA). A png of one colour
 * compresses about a thousand to one, so 10 MB could otherwise decode to gigabytes in
 * every app that shows the picture.
 */
export const MAX_IMAGE_PIXELS = 64 * 1024 * 1024;

/** A picture's format, as the extension of the key it is stored under (which `blobContentType` serves by). */
export interface ImageType {
  extension: "png" | "jpg" | "webp";
}

export interface ImageInfo extends ImageType {
  width: number;
  height: number;
}

/**
 * The formats accepted: how each is recognised (by its leading bytes, whatever the client
 * claims), and where its header keeps the size.
 */
const FORMATS: {
  type: ImageType;
  is(bytes: Uint8Array): boolean;
  size(bytes: Uint8Array): Size | undefined;
}[] = [
  {
    type: { extension: "png" },
    is: (bytes) => startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    size: pngSize,
  },
  {
    type: { extension: "jpg" },
    is: (bytes) => startsWith(bytes, [0xff, 0xd8, 0xff]),
    size: jpegSize,
  },
  {
    type: { extension: "webp" },
    is: (bytes) => startsWith(bytes, ascii("RIFF")) && startsWith(bytes, ascii("WEBP"), 8),
    size: webpSize,
  },
];

/**
 * The image's type and size, read from its header; undefined when it is not png, jpeg or
 * webp, or its header is missing, cut short or inconsistent (a file that only starts like one).
 */
export function readImage(bytes: Uint8Array): ImageInfo | undefined {
  const format = FORMATS.find((f) => f.is(bytes));
  return format && sized(format.type, format.size(bytes));
}

function sized(type: ImageType, size: Size | undefined): ImageInfo | undefined {
  return size && size.width > 0 && size.height > 0 ? { ...type, ...size } : undefined;
}

/** The uploaded image's type and size, or INVALID_ARGUMENT naming what is wrong with it. */
export function requireImage(bytes: Uint8Array): ImageInfo {
  const refuse = (description: string, reason?: string): never => {
    throw new InvalidArgumentError([{ field: "content", description, ...(reason ? { reason } : {}) }]);
  };
  if (bytes.length > MAX_IMAGE_BYTES) refuse("image must be at most 10 MB");
  const format = FORMATS.find((f) => f.is(bytes));
  if (!format) return refuse("image must be a png, jpeg or webp file", "IMAGE_TYPE");
  const image = sized(format.type, format.size(bytes));
  if (!image) return refuse("image is damaged or incomplete", "IMAGE_TYPE");
  const { width, height } = image;
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    refuse(
      `image is ${width}×${height} pixels; at most ${MAX_IMAGE_SIDE} a side and 64 megapixels are accepted`,
      "IMAGE_SIZE",
    );
  }
  return image;
}

type Size = { width: number; height: number };

function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0));
}

function startsWith(bytes: Uint8Array, sig: number[], offset = 0): boolean {
  return bytes.length >= offset + sig.length && sig.every((b, i) => bytes[offset + i] === b);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** PNG: the IHDR chunk comes first, and the file ends with IEND. */
function pngSize(bytes: Uint8Array): Size | undefined {
  const IEND = [0, 0, 0, 0, ...ascii("IEND"), 0xae, 0x42, 0x60, 0x82];
  if (bytes.length < 33 + 12 || !startsWith(bytes, [0, 0, 0, 13, ...ascii("IHDR")], 8)) return undefined;
  if (!startsWith(bytes, IEND, bytes.length - IEND.length)) return undefined;
  const data = view(bytes);
  return { width: data.getUint32(16), height: data.getUint32(20) };
}

/**
 * JPEG: the segments after SOI, through the start-of-frame (which holds the size) to the first
 * scan, whose entropy-coded data cannot hold FF D9 other than as the end-of-image marker: a
 * file cut short has none. Anything after the end (a motion photo's video) is left alone.
 */
function jpegSize(bytes: Uint8Array): Size | undefined {
  const data = view(bytes);
  let size: Size | undefined;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    const length = data.getUint16(at + 2);
    if (length < 2 || at + 2 + length > bytes.length) return undefined;
    if (marker === 0xda) return size && hasEnd(bytes, at + 2 + length) ? size : undefined;
    // SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (length < 7) return undefined;
      size ??= { height: data.getUint16(at + 5), width: data.getUint16(at + 7) };
    }
    at += 2 + length;
  }
  return undefined;
}

function hasEnd(bytes: Uint8Array, from: number): boolean {
  for (let at = bytes.indexOf(0xff, from); at !== -1; at = bytes.indexOf(0xff, at + 1)) {
    if (bytes[at + 1] === 0xd9) return true;
  }
  return false;
}

/** WebP: a RIFF container whose declared size is the file's, holding VP8, VP8L or VP8X first. */
function webpSize(bytes: Uint8Array): Size | undefined {
  if (bytes.length < 30) return undefined;
  const data = view(bytes);
  const riffSize = data.getUint32(4, true);
  if (bytes.length < riffSize + 8) return undefined; // cut short
  const chunk = String.fromCharCode(...bytes.subarray(12, 16));
  if (chunk === "VP8 ") {
    // Key frame start code 9d 01 2a, then 14-bit width and height.
    if (!startsWith(bytes, [0x9d, 0x01, 0x2a], 23)) return undefined;
    return { width: data.getUint16(26, true) & 0x3fff, height: data.getUint16(28, true) & 0x3fff };
  }
  if (chunk === "VP8L") {
    if (bytes[20] !== 0x2f) return undefined;
    const bits = data.getUint32(21, true);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === "VP8X") {
    const width = 1 + (bytes[24]! | (bytes[25]! << 8) | (bytes[26]! << 16));
    const height = 1 + (bytes[27]! | (bytes[28]! << 8) | (bytes[29]! << 16));
    return { width, height };
  }
  return undefined;
}
