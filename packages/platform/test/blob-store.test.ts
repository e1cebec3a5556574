/**
 * The blob stores: the local directory, and the S3 API through the real AWS SDK against
 * a loopback S3 host that checks every request's signature (no bucket is reachable from
 * here; the GitHub workflow has none either).
 */
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  type BlobConfig,
  blobContentType,
  ConfigError,
  createBlobStore,
  createLocalBlobStore,
  createS3BlobStore,
  loadConfig,
  readBlobConfig,
  recordingBlobs,
  type S3BlobOptions,
  verifyLocalReadUrl,
} from "../src/index.js";
import { type LoopbackS3, startLoopbackS3, temporaryDirectory } from "../src/testing/index.js";

const local = suite("blob store: a local directory");

local("pictures and PDFs are served as what they are; any other file as an opaque download", () => {
  assert.equal(
    [
      "avatars/u1/a.png",
      "private/modules/c/1/Notes.PDF",
      "private/modules/c/1/scan.jpeg",
      "courses/c/p.webp",
      "private/modules/c/1/page.html",
      "private/modules/c/1/image.svg",
      "private/modules/c/1/notes",
      "private/modules/c.pdf/1/notes",
      "private/modules/c/1/.pdf.exe",
    ].map(blobContentType),
    [
      "image/png",
      "application/pdf",
      "image/jpeg",
      "image/webp",
      "application/octet-stream",
      "application/octet-stream",
      "application/octet-stream",
      "application/octet-stream",
      "application/octet-stream",
    ],
  );
});

local("stores under the key, answers the public URL, deletes; a missing file deletes quietly", async () => {
  const dir = temporaryDirectory("blob-test");
  const store = createLocalBlobStore(dir, "http://localhost:8080/blobs/");
  const url = await store.put("avatars/u1/a.png", new Uint8Array([1, 2, 3]));
  assert.is(url, "http://localhost:8080/blobs/avatars/u1/a.png");
  assert.equal([...(await readFile(join(dir, "avatars/u1/a.png")))], [1, 2, 3]);
  await store.delete("avatars/u1/a.png");
  await store.delete("avatars/u1/a.png");
  assert.is(await stat(join(dir, "avatars/u1/a.png")).catch(() => "gone"), "gone");
});

local(
  "recordingBlobs deletes the blobs a failed write would have recorded, and keeps them when it lands",
  async () => {
    const dir = temporaryDirectory("blob-test");
    const store = createLocalBlobStore(dir, "http://localhost:8080/blobs/");
    const exists = (key: string) =>
      stat(join(dir, key)).then(
        () => true,
        () => false,
      );
    await store.put("a/1.png", new Uint8Array([1]));
    await store.put("a/2.png", new Uint8Array([2]));
    const refused = new Error("the row was not written");
    const err = await recordingBlobs(store, ["a/1.png", "a/2.png"], () => Promise.reject(refused)).catch(
      (e: unknown) => e,
    );
    assert.is(err, refused, "the write's own error");
    assert.equal([await exists("a/1.png"), await exists("a/2.png")], [false, false]);
    await store.put("a/3.png", new Uint8Array([3]));
    assert.is(await recordingBlobs(store, ["a/3.png"], async () => "saved"), "saved");
    assert.ok(await exists("a/3.png"));
  },
);

local("refuses keys that leave its directory", async () => {
  const dir = temporaryDirectory("blob-test");
  const store = createLocalBlobStore(dir, "http://localhost:8080/blobs");
  for (const key of ["../escape.png", "/etc/passwd", "a/../../b", "a/./b"]) {
    await store.put(key, new Uint8Array([1])).then(
      () => assert.unreachable(`${key} was stored`),
      (err: Error) => assert.match(err.message, /invalid blob key/),
    );
  }
});

local(
  "a read URL is signed for its key and lifetime; another key, a changed expiry or another signing key fails",
  async () => {
    const dir = temporaryDirectory("blob-test");
    const store = createLocalBlobStore(dir, "http://localhost:8080/blobs", "signing-key-for-tests");
    const key = "private/submissions/c1/u1/essay.pdf";
    const url = new URL(await store.readUrl(key, 60));
    assert.is(url.pathname, `/blobs/${key}`);
    const expires = Number(url.searchParams.get("expires"));
    assert.ok(Math.abs(expires - (Date.now() / 1000 + 60)) < 5, "expires in 60 s");
    assert.ok(verifyLocalReadUrl("signing-key-for-tests", key, url.searchParams));
    assert.not.ok(
      verifyLocalReadUrl("signing-key-for-tests", "private/submissions/c1/u2/essay.pdf", url.searchParams),
    );
    assert.not.ok(verifyLocalReadUrl("another-key", key, url.searchParams));
    assert.not.ok(verifyLocalReadUrl("signing-key-for-tests", key, url.searchParams, (expires + 1) * 1000));
    const later = new URLSearchParams(url.searchParams);
    later.set("expires", String(expires + 3600));
    assert.not.ok(verifyLocalReadUrl("signing-key-for-tests", key, later));
    for (const query of ["", "expires=abc&signature=x", `expires=${expires}`]) {
      assert.not.ok(verifyLocalReadUrl("signing-key-for-tests", key, new URLSearchParams(query)), query);
    }
  },
);

local(
  "a blob replaced while it is read is read whole, old or new; a failed write leaves nothing",
  async () => {
    const dir = temporaryDirectory("blob-test");
    const store = createLocalBlobStore(dir, "http://localhost:8080/blobs");
    const size = 4 << 20;
    await store.put("courses/c/cover.png", Buffer.alloc(size, "a"));
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 40; i++) {
        await store.put("courses/c/cover.png", Buffer.alloc(size, i % 2 ? "a" : "b"));
      }
      writing = false;
    })();
    const seen: string[] = [];
    while (writing) {
      const bytes = await readFile(join(dir, "courses/c/cover.png"));
      const whole = bytes.length === size && bytes.every((b) => b === bytes[0]);
      if (!whole) seen.push(`${bytes.length} bytes`);
    }
    await writer;
    assert.equal(seen, [], "reads saw a part of a blob");
    assert.equal(await readdir(join(dir, "courses/c")), ["cover.png"], "a temporary file was left");

    // A key that names a directory cannot be written: the error surfaces and no temporary file stays.
    await mkdir(join(dir, "courses/d/cover.png"), { recursive: true });
    const failed = await store.put("courses/d/cover.png", Buffer.from("x")).then(
      () => undefined,
      (err: NodeJS.ErrnoException) => err.code,
    );
    assert.is(failed, "EISDIR");
    assert.equal(await readdir(join(dir, "courses/d")), ["cover.png"]);
  },
);

local.run();

const s3 = suite<{ host: LoopbackS3; options: S3BlobOptions }>(
  "blob store: the S3 API (real SDK, loopback host)",
);
s3.before(async (ctx) => {
  ctx.host = await startLoopbackS3();
  ctx.options = {
    bucket: ctx.host.bucket,
    region: ctx.host.region,
    endpoint: ctx.host.endpoint,
    forcePathStyle: true,
    publicUrl: "https://cdn.example.com/files",
    credentials: ctx.host.credentials,
  };
});
s3.after(async ({ host }) => {
  await host.close();
});

s3(
  "PutObject stores the bytes under the key, typed by its extension; the answer is the public URL",
  async ({ host, options }) => {
    const store = createS3BlobStore(options);
    const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const url = await store.put("avatars/u 1/a+b.png", bytes);
    assert.is(url, "https://cdn.example.com/files/avatars/u 1/a+b.png");
    const object = host.objects.get("avatars/u 1/a+b.png");
    assert.equal([...(object?.body ?? [])], [...bytes]);
    assert.is(object?.contentType, "image/png");
    await store.put("private/modules/c1/1/page.html", new Uint8Array([0x3c]));
    assert.is(host.objects.get("private/modules/c1/1/page.html")?.contentType, "application/octet-stream");
  },
);

s3("DeleteObject removes it; deleting a missing key succeeds as on S3", async ({ host, options }) => {
  const store = createS3BlobStore(options);
  await store.put("courses/c1/notes.pdf", new Uint8Array([1]));
  await store.delete("courses/c1/notes.pdf");
  assert.not.ok(host.objects.has("courses/c1/notes.pdf"));
  await store.delete("courses/c1/notes.pdf");
});

s3(
  "wrong credentials, another region or another bucket are refused, and nothing is stored",
  async ({ host, options }) => {
    const before = host.objects.size;
    const cases: [Partial<S3BlobOptions>, string][] = [
      [{ credentials: { ...host.credentials, secretAccessKey: "not-the-secret" } }, "SignatureDoesNotMatch"],
      [{ credentials: { ...host.credentials, accessKeyId: "AKIANOBODY" } }, "InvalidAccessKeyId"],
      [{ region: "us-west-2" }, "AuthorizationHeaderMalformed"],
      [{ bucket: "someone-elses" }, "NoSuchBucket"],
    ];
    for (const [override, code] of cases) {
      const store = createS3BlobStore({ ...options, ...override });
      const err = await store.put("avatars/x.png", new Uint8Array([1])).then(
        () => undefined,
        (e: Error) => e,
      );
      assert.ok(err, `${code}: the put failed`);
      assert.is(err.name, code);
    }
    assert.is(host.objects.size, before);
  },
);

s3(
  "keys that would leave the bucket's namespace are refused before any request",
  async ({ host, options }) => {
    const refused = host.refused.length;
    const store = createS3BlobStore(options);
    await store.put("../x.png", new Uint8Array([1])).then(
      () => assert.unreachable("stored"),
      (err: Error) => assert.match(err.message, /invalid blob key/),
    );
    assert.is(host.refused.length, refused);
  },
);

s3(
  "a read URL is a presigned GetObject for its lifetime: it reads the object; changed, it is refused",
  async ({ host, options }) => {
    const store = createS3BlobStore(options);
    const key = "private/submissions/c1/u1/essay.pdf";
    await store.put(key, new Uint8Array([5, 6, 7]));
    const url = await store.readUrl(key, 300);
    assert.ok(url.startsWith(`${host.endpoint}/${host.bucket}/private/submissions/`), url);
    assert.is(new URL(url).searchParams.get("X-Amz-Expires"), "300");
    const res = await fetch(url);
    assert.is(res.status, 200);
    assert.equal([...new Uint8Array(await res.arrayBuffer())], [5, 6, 7]);
    const refused = host.refused.length;
    const other = new URL(url);
    other.pathname = other.pathname.replace("essay.pdf", "other.pdf");
    assert.is((await fetch(other)).status, 403);
    const longer = new URL(url);
    longer.searchParams.set("X-Amz-Expires", "604800");
    assert.is((await fetch(longer)).status, 403);
    assert.equal(host.refused.slice(refused), ["SignatureDoesNotMatch", "SignatureDoesNotMatch"]);
    assert.is((await fetch(url.replace(/X-Amz-Signature=[0-9a-f]+/, ""))).status, 403);
  },
);

s3("an expired presigned URL is refused", async ({ host, options }) => {
  const store = createS3BlobStore(options);
  await store.put("private/x.txt", new Uint8Array([1]));
  const url = await store.readUrl("private/x.txt", 1);
  await new Promise((resolve) => setTimeout(resolve, 2100));
  const refused = host.refused.length;
  assert.is((await fetch(url)).status, 403);
  assert.equal(host.refused.slice(refused), ["AccessDenied"]);
});

s3("createBlobStore builds the store BLOB_STORE names", async ({ host }) => {
  const config = loadConfig(readBlobConfig, {
    BLOB_STORE: "s3",
    S3_BUCKET: host.bucket,
    S3_REGION: host.region,
    S3_ENDPOINT: host.endpoint,
    S3_FORCE_PATH_STYLE: "true",
    S3_ACCESS_KEY_ID: host.credentials.accessKeyId,
    S3_SECRET_ACCESS_KEY: host.credentials.secretAccessKey,
    BLOB_PUBLIC_URL: "https://cdn.example.com/files",
  });
  const url = await createBlobStore(config).put("rules/r.txt", new Uint8Array([7]));
  assert.is(url, "https://cdn.example.com/files/rules/r.txt");
  assert.equal([...(host.objects.get("rules/r.txt")?.body ?? [])], [7]);
});

s3.run();

const config = suite("blob store: configuration");

config("local by default, with the local run's directory and URL", () => {
  assert.equal(loadConfig(readBlobConfig, {}), {
    store: "local",
    dir: ".data/blobs",
    publicUrl: "http://localhost:8080/blobs",
    signingKey: undefined,
  } satisfies BlobConfig);
});

config("local in production needs the signing key its links are checked with", () => {
  assert.throws(() => loadConfig(readBlobConfig, { NODE_ENV: "production" }), /BLOB_SIGNING_KEY is required/);
  const local = loadConfig(readBlobConfig, { NODE_ENV: "production", BLOB_SIGNING_KEY: "k" });
  assert.is(local.store === "local" && local.signingKey, "k");
});

config(
  "s3: bucket and public URL required; region defaults; credentials from the SDK's chain unless given",
  () => {
    assert.equal(
      loadConfig(readBlobConfig, { BLOB_STORE: "s3", S3_BUCKET: "b", BLOB_PUBLIC_URL: "https://x/b" }),
      {
        store: "s3",
        bucket: "b",
        region: "us-east-1",
        endpoint: undefined,
        forcePathStyle: false,
        publicUrl: "https://x/b",
        credentials: undefined,
      } satisfies BlobConfig,
    );
  },
);

config(
  "bad settings are all reported: no bucket, no public URL, a key id without its secret, an unknown store",
  () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(readBlobConfig, env);
        return [];
      } catch (err) {
        assert.instance(err, ConfigError);
        return (err as ConfigError).problems;
      }
    };
    const s3Problems = problems({ BLOB_STORE: "s3", S3_ACCESS_KEY_ID: "AKIA", S3_FORCE_PATH_STYLE: "maybe" });
    for (const name of ["S3_BUCKET", "BLOB_PUBLIC_URL", "S3_SECRET_ACCESS_KEY", "S3_FORCE_PATH_STYLE"]) {
      assert.ok(
        s3Problems.some((p) => p.startsWith(name)),
        `${name} in ${s3Problems.join("; ")}`,
      );
    }
    assert.match(problems({ BLOB_STORE: "supabase" }).join(), /BLOB_STORE must be one of local, s3/);
  },
);

config.run();
