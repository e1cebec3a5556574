/**
 * The install applied the postgres.js guard (scripts/patch-postgres.ts) to every
 * build of the driver that Node can load. Without it, a PostgreSQL restart under
 * load can crash a service with an uncatchable TypeError (porsager/postgres#1208).
 * The race itself cannot be triggered deterministically from outside the driver;
 * services/courses/test/db-restart.test.ts is where it showed up.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const test = suite("postgres.js guard (postinstall)");

test("the loaded ESM and CJS builds of the driver carry the nextWrite guard", () => {
  const require = createRequire(import.meta.url);
  const cjs = require.resolve("postgres").replace(/index\.js$/, "connection.js");
  const esm = cjs.replace(/[/\\]cjs[/\\]src[/\\]/, "/src/");
  for (const file of [cjs, esm]) {
    const text = readFileSync(file, "utf8");
    assert.ok(text.includes("classconnect: guard against porsager/postgres#1208"), `${file} is guarded`);
    assert.ok(
      /if \(!socket\) \{[^}]*error\(Errors\.connection\('CONNECTION_CLOSED'/.test(text),
      `${file} settles`,
    );
  }
});

test.run();
