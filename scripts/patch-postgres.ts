/**
 * Guards postgres.js (3.4.9) against porsager/postgres#1208 (also #1066, #1154):
 * a small write is queued with setImmediate, the server closes the connection,
 * `closed()` sets the socket to null, and the queued `nextWrite` then throws an
 * uncatchable TypeError that kills the process. Seen here when PostgreSQL is
 * restarted under load (services/courses/test/db-restart.test.ts).
 *
 * The guard settles instead of dropping: pending queries are rejected with
 * CONNECTION_CLOSED, which callers already handle (retry / UNAVAILABLE).
 * Runs on every install (postinstall) and is idempotent. Remove it once an
 * upstream release carries the fix (open PRs: #1168, #1176, #1209).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const MARK = "classconnect: guard against porsager/postgres#1208";
const ORIGINAL = "  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)";
const GUARDED = `  function nextWrite(fn) {
    if (!socket) { // ${MARK}
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options, socket))
      return false
    }
    const x = socket.write(chunk, fn)`;

// The package does not export ./package.json: walk up from its entry point instead.
let root = dirname(createRequire(import.meta.url).resolve("postgres"));
const isPackageRoot = (dir: string) =>
  existsSync(join(dir, "package.json")) &&
  JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name === "postgres";
while (!isPackageRoot(root)) {
  if (dirname(root) === root) throw new Error("patch-postgres: postgres package not found");
  root = dirname(root);
}
let patched = 0;
for (const variant of ["src", "cjs/src", "cf/src"]) {
  const file = join(root, variant, "connection.js");
  if (!existsSync(file)) continue;
  const text = readFileSync(file, "utf8");
  if (text.includes(MARK)) continue;
  if (!text.includes(ORIGINAL)) {
    throw new Error(`patch-postgres: ${file} no longer matches; check whether the upstream fix has landed`);
  }
  writeFileSync(file, text.replace(ORIGINAL, GUARDED));
  patched++;
}
console.log(`patch-postgres: ${patched} file(s) patched in ${root}`);
