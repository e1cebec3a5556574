/**
 * Uploaded pictures: the type is told by content and the size read from the header, so a
 * file that only starts like an image, or one too large to draw, is refused before it is stored.
 */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { blobContentType } from "../src/blob-store.js";
import { InvalidArgumentError } from "../src/errors.js";
import { MAX_IMAGE_BYTES, MAX_IMAGE_SIDE, readImage, requireImage } from "../src/images.js";
import {
  TEST_JPEG,
  TEST_PNG,
  TEST_WEBP,
  TEST_WEBP_ALPHA,
  TEST_WEBP_LOSSLESS,
} from "../src/testing/images.js";

const test = suite("platform: images");

/** The refusal's reason and description, or undefined when the image is accepted. */
function refusal(bytes: Uint8Array): { reason: string; description: string } | undefined {
  try {
    requireImage(bytes);
    return undefined;
  } catch (err) {
    assert.instance(err, InvalidArgumentError);
    const violation = (err as InvalidArgumentError).violations[0]!;
    assert.is(violation.field, "content");
    return { reason: violation.reason ?? "", description: violation.description };
  }
}

/** A copy of `bytes` with `patch` written at `offset`. */
function patched(bytes: Uint8Array, offset: number, patch: number[]): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy.set(patch, offset);
  return copy;
}

test("real png, jpeg and webp files (lossy, lossless, with alpha) are read with their size", () => {
  for (const [bytes, contentType, extension] of [
    [TEST_PNG, "image/png", "png"],
    [TEST_JPEG, "image/jpeg", "jpg"],
    [TEST_WEBP, "image/webp", "webp"],
    [TEST_WEBP_LOSSLESS, "image/webp", "webp"],
    [TEST_WEBP_ALPHA, "image/webp", "webp"],
  ] as const) {
    assert.equal(readImage(bytes), { extension, width: 3, height: 2 }, extension);
    assert.equal(requireImage(bytes), { extension, width: 3, height: 2 });
    assert.is(blobContentType(`avatars/u/a.${extension}`), contentType, "and served as what it is");
  }
});

test("other content is IMAGE_TYPE; a file that only starts like an image is damaged", () => {
  assert.is(refusal(Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'/>"))?.reason, "IMAGE_TYPE");
  assert.match(refusal(Buffer.from("GIF89a"))!.description, /png, jpeg or webp/);
  for (const image of [TEST_PNG, TEST_JPEG, TEST_WEBP, TEST_WEBP_LOSSLESS, TEST_WEBP_ALPHA]) {
    for (const length of [3, 12, 16, 30, image.length - 1]) {
      const cut = refusal(image.subarray(0, length));
      assert.is(cut?.reason, "IMAGE_TYPE", `${length} of ${image.length} bytes`);
    }
    // The signature followed by megabytes of nothing: accepted by a signature check alone.
    const padded = refusal(Buffer.concat([image.subarray(0, 12), Buffer.alloc(1 << 20)]));
    assert.is(padded?.description, "image is damaged or incomplete");
  }
  assert.is(refusal(patched(TEST_PNG, 16, [0, 0, 0, 0]))?.reason, "IMAGE_TYPE", "zero width");
  const tooBig = Buffer.concat([TEST_PNG, Buffer.alloc(MAX_IMAGE_BYTES)]);
  assert.equal(refusal(tooBig), { reason: "", description: "image must be at most 10 MB" });
});

test("an image larger than the limits is IMAGE_SIZE, naming its size", () => {
  const side = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  // A png's IHDR holds width then height, big-endian, at bytes 16–23.
  const wide = refusal(patched(TEST_PNG, 16, side(MAX_IMAGE_SIDE + 1)));
  assert.is(wide?.reason, "IMAGE_SIZE");
  assert.match(wide!.description, `${MAX_IMAGE_SIDE + 1}×2 pixels`);
  assert.is(refusal(patched(TEST_PNG, 16, side(MAX_IMAGE_SIDE))), undefined, "the longest side accepted");
  // 8192 × 8192 is 64 megapixels (MAX_IMAGE_PIXELS), the most accepted; one row more is refused.
  assert.is(refusal(patched(TEST_PNG, 16, [...side(8_192), ...side(8_192)])), undefined, "64 MP");
  assert.is(refusal(patched(TEST_PNG, 16, [...side(8_192), ...side(8_193)]))?.reason, "IMAGE_SIZE");
  // A jpeg's frame header holds height then width (here at bytes 163–166).
  const tall = refusal(patched(TEST_JPEG, 163, [0xff, 0xff]));
  assert.match(tall!.description, "3×65535 pixels");
  // VP8X holds width − 1 and height − 1 in 24 bits each.
  assert.is(refusal(patched(TEST_WEBP_ALPHA, 24, [0xff, 0xff, 0xff]))?.reason, "IMAGE_SIZE");
});

test.run();
