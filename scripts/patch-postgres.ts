/**
 * Guards postgres.js 3.4.9 against two open upstream bugs that kill the
 * process with an error no caller can catch. Both show up when PostgreSQL
 * restarts under load (services/courses/test/db-restart.test.ts):
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
 * Runs on every install (postinstall; the Dockerfile runs it too) and is
 * idempotent. Remove a guard once an upstream release carries its fix.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

/** One guard: the driver module it edits, the exact upstream text it replaces, and a marker proving it is applied. */
export interface Guard {
  module: "connection.js" | "query.js";
  mark: string;
  original: string;
  guarded: string;
}

export const GUARDS: Guard[] = [
  {
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
    module: "connection.js",
    mark: "classconnect: guard against porsager/postgres#1192",
    original: "        return fetchArrayTypes()\n",
    guarded:
      "        return fetchArrayTypes().catch(() => {}) // classconnect: guard against porsager/postgres#1192\n",
  },
  {
    module: "query.js",
    mark: "classconnect: no settling closures per query",
    original:
      "    this.resolve = x => (this.active = false, resolve(x))\n    this.reject = x => (this.active = false, reject(x))\n",
    guarded:
      "    this.fulfil = resolve // classconnect: no settling closures per query (resolve() and reject() below)\n    this.fail = reject\n",
  },
  {
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
];

/** The directory of the installed postgres package (it does not export ./package.json). */
export function postgresRoot(): string {
  let root = dirname(createRequire(import.meta.url).resolve("postgres"));
  const isPackageRoot = (dir: string) =>
    existsSync(join(dir, "package.json")) &&
    JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name === "postgres";
  while (!isPackageRoot(root)) {
    if (dirname(root) === root) throw new Error("patch-postgres: postgres package not found");
    root = dirname(root);
  }
  return root;
}

/** Every build of one of the driver's modules that Node can load. */
export function moduleFiles(module: Guard["module"], root = postgresRoot()): string[] {
  return ["src", "cjs/src", "cf/src"].map((v) => join(root, v, module)).filter((f) => existsSync(f));
}

function patch(): void {
  let patched = 0;
  const files = [...new Set(GUARDS.map((g) => g.module))].flatMap((m) => moduleFiles(m));
  for (const file of files) {
    let text = readFileSync(file, "utf8");
    const before = text;
    for (const guard of GUARDS.filter((g) => file.endsWith(`/${g.module}`))) {
      if (text.includes(guard.mark)) continue;
      if (text.split(guard.original).length !== 2) {
        throw new Error(
          `patch-postgres: ${file} no longer matches (${guard.mark}); check whether the upstream fix has landed`,
        );
      }
      text = text.replace(guard.original, guard.guarded);
    }
    if (text !== before) {
      writeFileSync(file, text);
      patched++;
    }
  }
  console.log(`patch-postgres: ${patched} file(s) patched`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) patch();
