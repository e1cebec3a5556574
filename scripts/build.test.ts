/**
 * The bundles `npm start` and the images run (scripts/build.ts), built in memory: each
 * holds all of ClassConnect's own code and imports only installed packages, and finds
 * the files its modules read beside their sources (migrations) in the repository.
 * start.test.ts runs them: every process starts from its bundle and serves.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { bundleOptions, bundlePath, nodeFlags, type ProcessName, processDirs } from "./build.ts";

const test = suite("build: one bundle per process");

test("each bundle holds the workspaces' code, imports only packages, and points its modules at their sources", async () => {
  for (const name of Object.keys(processDirs) as ProcessName[]) {
    const result = await build({ ...bundleOptions(name), write: false });
    const js = result.outputFiles.find((f) => f.path === bundlePath(name));
    assert.ok(js, `${name}: ${result.outputFiles.map((f) => f.path).join(", ")}`);
    assert.ok(
      result.outputFiles.some((f) => f.path === `${bundlePath(name)}.map`),
      `${name}: a source map`,
    );
    const imports = [...js.text.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]!);
    assert.ok(imports.length > 0, `${name}: imports its packages`);
    for (const spec of imports) {
      assert.not.match(spec, /^(\.|\/|@classconnect\/)/, `${name} imports ${spec}`);
    }
    assert.not.match(js.text, /import\.meta\.url/, `${name}: every import.meta.url is its source file's`);
    // Where the migrations are found: beside app.ts (each service's own) and outbox.ts (the outbox's).
    const urls = new Set([...js.text.matchAll(/"(file:\/\/[^"]+\.ts)"/g)].map((m) => fileURLToPath(m[1]!)));
    if (name !== "gateway") {
      for (const [source, migrations] of [
        [join(processDirs[name], "src", "app.ts"), join(processDirs[name], "migrations")],
        [
          join("packages", "platform", "src", "outbox.ts"),
          join("packages", "platform", "migrations", "outbox"),
        ],
      ] as const) {
        assert.ok(
          urls.has(resolve(source)),
          `${name}: ${source}'s import.meta.url (${[...urls].join(", ")})`,
        );
        assert.ok(existsSync(migrations), migrations);
      }
    }
  }
});

test("the images run the bundles with the same node flags as npm start", () => {
  const cmd = readFileSync("Dockerfile", "utf8")
    .split("\n")
    .find((line) => line.startsWith("CMD "));
  assert.ok(cmd, "the Dockerfile has a CMD");
  assert.is(cmd, `CMD exec node ${nodeFlags.join(" ")} "$SERVICE_DIR/dist/main.mjs"`);
});

test.run();
