/** The test helpers' own promises. */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const test = suite("test helpers");

test("temporary directories are gone once the process exits, even one that failed", () => {
  const code = `
    import { writeFileSync, mkdirSync } from "node:fs";
    import { temporaryDirectory } from "@classconnect/platform/testing";
    const dirs = [temporaryDirectory("helper"), temporaryDirectory("helper")];
    mkdirSync(dirs[0] + "/nested");
    writeFileSync(dirs[0] + "/nested/file.txt", "x");
    console.log(JSON.stringify(dirs));
    process.exitCode = 1;
  `;
  const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    encoding: "utf8",
  });
  assert.is(run.status, 1, run.stderr);
  const dirs = JSON.parse(run.stdout) as string[];
  assert.is(dirs.length, 2);
  assert.is.not(dirs[0], dirs[1]);
  for (const dir of dirs) {
    assert.match(dir, /classconnect-helper-/);
    assert.not.ok(existsSync(dir), `${dir} left behind`);
  }
});

test.run();
