/**
 * Guards two dependencies against open upstream bugs, on every install
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
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

/** One guard: the package and file it edits, the exact upstream text it replaces, and a marker proving it is applied. */
export interface Guard {
  package: "postgres" | "uvu";
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
