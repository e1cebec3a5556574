/**
 * The install applied every guard of scripts/patch-deps.ts to every build that
 * Node can load. Without the postgres.js guards a PostgreSQL restart under load
 * can end a service with an error no caller can catch;
 * packages/platform/test/db.test.ts shows the #1192 guard at work (the #1208 race
 * cannot be triggered deterministically from outside the driver;
 * services/courses/test/db-restart.test.ts is where it showed up). Without the uvu
 * guards a failing `before` hook leaves a suite at `(0 / N)` with no reason; the
 * second test here runs such a suite in a child process and reads its report.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { create, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { BytesValueSchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { GUARDS, guardFiles } from "./patch-deps.ts";

const test = suite("dependency guards (postinstall)");

test("every build of each guarded module carries its guard, once", () => {
  const builds = { postgres: 3, uvu: 2, "@bufbuild/protobuf": 2 };
  for (const guard of GUARDS) {
    const files = guardFiles(guard);
    assert.is(files.length, builds[guard.package], files.join(", "));
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      assert.is(text.split(guard.guarded).length, 2, `${file}: ${guard.mark}`);
      // The upstream text is left only where the guarded text itself carries it (a guard that adds code).
      const occurrences = (haystack: string) => haystack.split(guard.original).length - 1;
      assert.is(
        occurrences(text),
        occurrences(guard.guarded),
        `${file}: the unguarded text is gone (${guard.mark})`,
      );
    }
  }
});

test("a Timestamp's JSON is the string Date's toISOString gives, over the whole range, with every fraction form", () => {
  const min = -62135596800; // 0001-01-01T00:00:00Z
  const max = 253402300799; // 9999-12-31T23:59:59Z
  // As protobuf-es wrote it before the guard.
  const viaDate = (seconds: number, nanos: number) => {
    let z = "Z";
    if (nanos > 0) {
      const digits = (nanos + 1_000_000_000).toString().substring(1);
      z = digits.endsWith("000000")
        ? `.${digits.substring(0, 3)}Z`
        : digits.endsWith("000")
          ? `.${digits.substring(0, 6)}Z`
          : `.${digits}Z`;
    }
    return new Date(seconds * 1000).toISOString().replace(".000Z", z);
  };
  const seconds = [min, max, min + 1, max - 1, 0, -1, 1, 86_399, 86_400];
  // Leap days and the days around them: 2000 (leap), 1900 and 2100 (not), 1600 and 2400 (leap).
  for (const day of [
    "0004-02-29",
    "1600-02-29",
    "1900-02-28",
    "1900-03-01",
    "2000-02-29",
    "2100-03-01",
    "2400-02-29",
  ]) {
    const at = Date.parse(`${day}T00:00:00Z`) / 1000;
    seconds.push(at - 1, at, at + 86_399);
  }
  let state = 20261125;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  for (let i = 0; i < 50_000; i++) seconds.push(Math.floor(min + random() * (max - min + 1)));
  for (const [i, s] of seconds.entries()) {
    const nanos = [0, 0, 5_000_000, 123_456_000, 1][i % 5]!;
    const timestamp = create(TimestampSchema, { seconds: BigInt(s), nanos });
    assert.is(toJson(TimestampSchema, timestamp), viaDate(s, nanos), `${s} s, ${nanos} ns`);
  }
  // The range checks stand.
  assert.throws(() => toJson(TimestampSchema, create(TimestampSchema, { seconds: BigInt(max + 1) })));
  assert.throws(() => toJson(TimestampSchema, create(TimestampSchema, { seconds: BigInt(min - 1) })));
});

test("messages round-trip through binary across the writer's first sizes (1 KiB, then doubling)", () => {
  for (const size of [0, 1, 1000, 1023, 1024, 1025, 3000, 70_000]) {
    const message = create(BytesValueSchema, { value: new Uint8Array(size).map((_, i) => i % 251) });
    const bytes = toBinary(BytesValueSchema, message);
    assert.ok(bytes.length >= size, `${size}`);
    assert.equal(fromBinary(BytesValueSchema, bytes).value, message.value, `${size}`);
  }
});

test("uvu reports a failing before hook, a ConnectError and a thrown string", async () => {
  // Inside the repository (.tmp/ is ignored), so the suite's imports resolve from its node_modules.
  await mkdir(join(process.cwd(), ".tmp"), { recursive: true });
  const dir = await mkdtemp(join(process.cwd(), ".tmp", "uvu-"));
  try {
    const file = join(dir, "hooks.test.mjs");
    await writeFile(
      file,
      `import { suite } from "uvu";
import { Code, ConnectError } from "@connectrpc/connect";
const broken = suite("broken before");
broken.before(() => { throw new Error("the system did not start"); });
broken("never runs", () => {});
broken.run();
const connect = suite("connect error");
connect("rejected", () => { throw new ConnectError("no such course", Code.NotFound); });
connect.run();
const thrown = suite("thrown string");
thrown("throws", () => { throw "a bare string"; });
thrown("passes", () => {});
thrown.run();
`,
    );
    const child = await promisify(execFile)(process.execPath, [file], {
      env: { ...process.env, NO_COLOR: "1" },
    }).then(
      () => ({ code: 0, stdout: "" }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    assert.is(child.code, 1, "the run fails");
    assert.match(child.stdout, "the system did not start");
    assert.match(child.stdout, "(a hook of this suite)");
    assert.match(child.stdout, "[not_found] no such course");
    assert.match(child.stdout, "a non-Error was thrown: a bare string");
    assert.match(child.stdout, "(1 / 2)");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
