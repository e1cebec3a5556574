/**
 * The install applied every postgres.js guard (scripts/patch-postgres.ts) to
 * every build of the driver that Node can load. Without them a PostgreSQL
 * restart under load can end a service with an error no caller can catch.
 * packages/platform/test/db.test.ts shows the #1192 guard at work; the #1208
 * race cannot be triggered deterministically from outside the driver
 * (services/courses/test/db-restart.test.ts is where it showed up).
 */
import { readFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { GUARDS, moduleFiles } from "./patch-postgres.ts";

const test = suite("postgres.js guards (postinstall)");

test("the ESM, CJS and Cloudflare builds of the driver carry every guard, once", () => {
  for (const guard of GUARDS) {
    const files = moduleFiles(guard.module);
    assert.is(files.length, 3, files.join(", "));
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

test.run();
