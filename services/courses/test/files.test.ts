/** The keys stored files are kept under: any file name a client sends makes a key a blob store accepts. */
import { isBlobKey, PRIVATE_BLOB_PREFIX } from "@classconnect/platform";
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { privateFileKey } from "../src/domain/files.js";

const test = suite("courses: stored file keys");
const courseId = "0b5e3f3c-59c9-4b8e-9a43-7ad4a1b7a1f1";

test("a file name keeps its readable part and loses what could climb out of its folder", () => {
  const name = (fileName: string) => privateFileKey("modules", courseId, fileName).split("/").at(-1) ?? "";
  assert.is(name("notes week 1.txt"), "notes_week_1.txt");
  assert.is(name("../../etc/passwd.pdf"), "_._etc_passwd.pdf");
  assert.is(name(".."), "file");
  assert.is(name("."), "file");
  assert.is(name("a..b...pdf"), "a.b.pdf");
  assert.is(name(".profile"), "profile");
  assert.is(name(""), "file");
  assert.is(name("x".repeat(300) + ".pdf").length, 100);
});

test("every file name gives a valid private key in its own folder", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 300 }), (fileName) => {
      const key = privateFileKey("submissions", courseId, fileName);
      assert.ok(isBlobKey(key), `${JSON.stringify(fileName)} gave ${key}`);
      assert.ok(key.startsWith(`${PRIVATE_BLOB_PREFIX}submissions/${courseId}/`), key);
      assert.is(key.split("/").length, 5, key);
    }),
    { numRuns: 2000 },
  );
  // The cases that broke it: dots that survive the other replacements.
  for (const fileName of ["../x", "..", "./..", "a/../b", ". .", "\\..\\"]) {
    assert.ok(isBlobKey(privateFileKey("modules", courseId, fileName)), fileName);
  }
});

test.run();
