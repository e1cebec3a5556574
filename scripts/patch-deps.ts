/**
 * Guards dependencies against open upstream bugs and two costs, on every install
 * (postinstall; the Dockerfile runs it too). Idempotent. Remove a guard once an
 * upstream release carries its fix.
 *
 * postgres.js 3.4.9, two bugs that kill the process with an error no caller can
 * catch. Both show up when PostgreSQL restarts under load
 * (services/courses/test/db-restart.test.ts):
 *
 * - porsager/postgres#1208 (also #1066, #1154): a small write is queued with
 *   setImmediate, the server closes the connection, `closed()` sets the socket
 *   to null, and the queued `nextWrite` then throws a TypeError. The guard
 *   settles instead: pending queries are rejected with CONNECTION_CLOSED, which
 *   callers already handle (retry / UNAVAILABLE). Open PRs: #1168, #1176, #1209.
 * - porsager/postgres#1192 (also #279, #1205, #1223): on every new connection
 *   `ReadyForQuery` starts the array-type lookup (`fetch_types`) and drops its
 *   promise, so a lookup that fails (connection terminated during start-up,
 *   statement timeout, no access to pg_type) is an unhandled rejection. The
 *   connection's own error path already settles the waiting query and
 *   reconnects; the guard only stops the dropped promise from escaping.
 *   packages/platform/test/db.test.ts triggers it deterministically.
 *
 * And one change for speed: each `Query` (a Promise subclass with a
 * `Symbol.species` getter) kept its own `resolve` and `reject` arrow functions.
 * On Node 20 every such query, its result rows and whatever awaited it then
 * outlived the young-generation collections and reached the old generation
 * (`--trace-gc-nvp` at 24,000 queries/s: 0.38 MB promoted per scavenge instead
 * of 0.07 MB, and 3.3 MB instead of none with a nested fragment; bench/README.md,
 * Garbage). The change settles queries with two prototype methods instead; the
 * driver and its cursors may still assign their own `resolve` over them, as before.
 *
 * uvu 0.5.6 (the test runner; a development dependency, absent from the
 * production image) drops an error thrown by a suite's `before` hook, and one
 * its reporter cannot format (a ConnectError, whose `details` is an array, or
 * a thrown non-Error): the suite only shows `(0 / N)` with no reason
 * (lukeed/uvu#80, #191, #229; fix proposed in PR #196, unmerged). The guards
 * report such errors like any failed test.
 *
 * @bufbuild/protobuf 2.17.0, for speed: `toJson` writes each google.protobuf.Timestamp
 * through a new Date and `toISOString()`, then a `replace`: 0.53 µs a value, warm. A
 * course carries five, so a 20-course page spent 78 of its 100 µs of JSON on them, in
 * the service answering the gateway's JSON calls (bench/README.md). The guard formats the
 * same string from the whole seconds with integer arithmetic (days to civil date, as in
 * H. Hinnant's `civil_from_days`): 0.12 µs. Same range checks, same fraction digits;
 * scripts/patch-deps.test.ts compares it with `toISOString()` over the whole range.
 * And its `BinaryWriter` starts at 128 bytes and doubles, a new typed array and a copy
 * each time: a course (about 300 bytes) took three, and `toBinary` 7.2–8.2 µs, warm;
 * starting at 1 KiB it takes 4.2–4.8 µs, and small messages cost the same (a 38-byte
 * request 1.0 µs either way; an empty one allocates nothing).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

/** One guard: the package and file it edits, the exact upstream text it replaces, and a marker proving it is applied. */
export interface Guard {
  package: "postgres" | "uvu" | "@bufbuild/protobuf";
  /** The file, relative to the package; every build of it that exists is guarded. */
  module: string;
  mark: string;
  original: string;
  guarded: string;
}

/** The builds of a module that Node can load, per package. */
const BUILDS: Record<Guard["package"], string[]> = {
  postgres: ["src", "cjs/src", "cf/src"],
  uvu: ["dist"],
  "@bufbuild/protobuf": ["dist/esm", "dist/cjs"],
};

/** Packages installed only for development; the production image has no copy to guard. */
const DEV_ONLY = new Set<Guard["package"]>(["uvu"]);

export const GUARDS: Guard[] = [
  {
    package: "postgres",
    module: "connection.js",
    mark: "classconnect: guard against porsager/postgres#1208",
    original: "  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)",
    guarded: `  function nextWrite(fn) {
    if (!socket) { // classconnect: guard against porsager/postgres#1208
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options, socket))
      return false
    }
    const x = socket.write(chunk, fn)`,
  },
  {
    package: "postgres",
    module: "connection.js",
    mark: "classconnect: guard against porsager/postgres#1192",
    original: "        return fetchArrayTypes()\n",
    guarded:
      "        return fetchArrayTypes().catch(() => {}) // classconnect: guard against porsager/postgres#1192\n",
  },
  {
    package: "postgres",
    module: "query.js",
    mark: "classconnect: no settling closures per query",
    original:
      "    this.resolve = x => (this.active = false, resolve(x))\n    this.reject = x => (this.active = false, reject(x))\n",
    guarded:
      "    this.fulfil = resolve // classconnect: no settling closures per query (resolve() and reject() below)\n    this.fail = reject\n",
  },
  {
    package: "postgres",
    module: "query.js",
    mark: "classconnect: settling methods",
    original: "  static get [Symbol.species]() {\n",
    guarded: `  resolve(x) { // classconnect: settling methods, shared by every query
    this.active = false
    return this.fulfil(x)
  }

  reject(x) {
    this.active = false
    return this.fail(x)
  }

  static get [Symbol.species]() {
`,
  },
  {
    package: "@bufbuild/protobuf",
    module: "to-json.js",
    mark: "classconnect: a Timestamp's date and time from its seconds",
    original: "function timestampToJson(val) {\n",
    guarded: `// classconnect: a Timestamp's date and time from its seconds, without a Date (scripts/patch-deps.ts)
const twoDigits = Array.from({ length: 100 }, (_, i) => (i < 10 ? "0" : "") + i);
function isoSeconds(ms) {
    const seconds = ms / 1000;
    let days = Math.floor(seconds / 86400);
    const inDay = seconds - days * 86400;
    const hours = Math.floor(inDay / 3600);
    const minutes = Math.floor((inDay - hours * 3600) / 60);
    const secs = inDay - hours * 3600 - minutes * 60;
    days += 719468;
    const era = Math.floor(days / 146097);
    const dayOfEra = days - era * 146097;
    const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) - Math.floor(dayOfEra / 146096)) / 365);
    const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
    const mp = Math.floor((5 * dayOfYear + 2) / 153);
    const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
    const month = mp < 10 ? mp + 3 : mp - 9;
    const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
    const y = year >= 1000 ? "" + year : year >= 100 ? "0" + year : year >= 10 ? "00" + year : "000" + year;
    return y + "-" + twoDigits[month] + "-" + twoDigits[day] + "T" + twoDigits[hours] + ":" + twoDigits[minutes] + ":" + twoDigits[secs];
}
function timestampToJson(val) {
`,
  },
  {
    package: "@bufbuild/protobuf",
    module: "to-json.js",
    mark: "classconnect: isoSeconds",
    original: '    return new Date(ms).toISOString().replace(".000Z", z);\n',
    guarded: "    return isoSeconds(ms) + z; // classconnect: isoSeconds, not a Date per value\n",
  },
  {
    package: "@bufbuild/protobuf",
    module: "wire/binary-encoding.js",
    mark: "classconnect: a writer starts at 1 KiB",
    original: "const INITIAL_SIZE = 128;\n",
    guarded: "const INITIAL_SIZE = 1024; // classconnect: a writer starts at 1 KiB (scripts/patch-deps.ts)\n",
  },
  {
    package: "uvu",
    module: "index.mjs",
    mark: "classconnect: hook errors are reported",
    original: "\t\t\t\twrite(FAIL);\n\t\t\t}\n\t\t}\n\t} finally {\n",
    guarded:
      "\t\t\t\twrite(FAIL);\n\t\t\t}\n\t\t}\n\t} catch (err) { // classconnect: hook errors are reported (lukeed/uvu#80, #191)\n\t\tif (errors.length) errors += '\\n';\n\t\terrors += format('(a hook of this suite)', err, name);\n\t\twrite(FAIL);\n\t} finally {\n",
  },
  {
    package: "uvu",
    module: "index.mjs",
    mark: "classconnect: any thrown value can be reported",
    original: "\tlet { details, operator='' } = err;\n",
    guarded:
      "\tif (!(err instanceof Error)) err = new Error('a non-Error was thrown: ' + String(err)); // classconnect: any thrown value can be reported (lukeed/uvu#229)\n\tlet { details, operator='' } = err;\n\tif (typeof details !== 'string') details = '';\n",
  },
];

/** The directory of an installed package (neither package exports ./package.json), or undefined. */
export function packageRoot(name: Guard["package"]): string | undefined {
  let root: string;
  try {
    root = dirname(createRequire(import.meta.url).resolve(name));
  } catch {
    return undefined;
  }
  const isPackageRoot = (dir: string) =>
    existsSync(join(dir, "package.json")) &&
    JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name === name;
  while (!isPackageRoot(root)) {
    if (dirname(root) === root) return undefined;
    root = dirname(root);
  }
  return root;
}

/** Every build of a guard's module that Node can load (the CommonJS twin of a `.mjs` too). */
export function guardFiles(guard: Guard): string[] {
  const root = packageRoot(guard.package);
  if (!root) {
    if (DEV_ONLY.has(guard.package)) return [];
    throw new Error(`patch-deps: package ${guard.package} not found`);
  }
  const names = guard.module.endsWith(".mjs")
    ? [guard.module, guard.module.replace(/\.mjs$/, ".js")]
    : [guard.module];
  return BUILDS[guard.package]
    .flatMap((dir) => names.map((name) => join(root, dir, name)))
    .filter((f) => existsSync(f));
}

function patch(): void {
  let patched = 0;
  const files = new Map<string, Guard[]>();
  for (const guard of GUARDS) {
    for (const file of guardFiles(guard)) files.set(file, [...(files.get(file) ?? []), guard]);
  }
  for (const [file, guards] of files) {
    let text = readFileSync(file, "utf8");
    const before = text;
    for (const guard of guards) {
      if (text.includes(guard.mark)) continue;
      if (text.split(guard.original).length !== 2) {
        throw new Error(
          `patch-deps: ${file} no longer matches (${guard.mark}); check whether the upstream fix has landed`,
        );
      }
      text = text.replace(guard.original, guard.guarded);
    }
    if (text !== before) {
      writeFileSync(file, text);
      patched++;
    }
  }
  console.log(`patch-deps: ${patched} file(s) patched`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) patch();
