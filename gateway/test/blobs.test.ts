/** The gateway's /blobs/ for the local store: public files as they are, private ones only by a signed link. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createLocalBlobStore } from "@classconnect/platform";
import { temporaryDirectory } from "@classconnect/platform/testing";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startLoneGateway } from "./system.js";

const test = suite<{ dir: string }>("gateway: /blobs/");
test.before(async (ctx) => {
  ctx.dir = temporaryDirectory("gw-blobs");
  await mkdir(join(ctx.dir, "private/s"), { recursive: true });
  await writeFile(join(ctx.dir, "public.txt"), "public");
  await writeFile(join(ctx.dir, "private/s/work.txt"), "private");
});

const status = async (url: string) => {
  const res = await fetch(url);
  await res.body?.cancel();
  return res.status;
};

test("without BLOB_SIGNING_KEY a private file is never served, signed or not; public ones are", async ({
  dir,
}) => {
  const gateway = await startLoneGateway({ BLOB_DIR: dir });
  try {
    const signed = await createLocalBlobStore(dir, `${gateway.url}/blobs`, "some-key").readUrl(
      "private/s/work.txt",
      60,
    );
    assert.is(await status(signed), 404);
    assert.is(await status(`${gateway.url}/blobs/private/s/work.txt`), 404);
    const pub = await fetch(`${gateway.url}/blobs/public.txt`);
    await pub.body?.cancel();
    // Public files (avatars, course pictures) may be cached, unlike every call's answer.
    assert.equal([pub.status, pub.headers.get("cache-control")], [200, "public, max-age=3600"]);
  } finally {
    await gateway.close();
  }
});

test("with it, only links signed with that key, for that file, before they expire", async ({ dir }) => {
  const gateway = await startLoneGateway({ BLOB_DIR: dir, BLOB_SIGNING_KEY: "the-key" });
  try {
    const store = createLocalBlobStore(dir, `${gateway.url}/blobs`, "the-key");
    const res = await fetch(await store.readUrl("private/s/work.txt", 60));
    assert.equal([res.status, await res.text()], [200, "private"]);
    assert.is(res.headers.get("cache-control"), "private, no-store");
    const other = createLocalBlobStore(dir, `${gateway.url}/blobs`, "another-key");
    assert.is(await status(await other.readUrl("private/s/work.txt", 60)), 404);
    assert.is(await status(await store.readUrl("private/s/work.txt", -1)), 404);
    assert.is(await status(await store.readUrl("private/s/missing.txt", 60)), 404);
  } finally {
    await gateway.close();
  }
});

test.run();
