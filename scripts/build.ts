/**
 * `npm run build`: each process of the platform (four services and the gateway) as one
 * JavaScript file, `<dir>/dist/main.mjs`, with a source map. `npm start` and the
 * images run these instead of compiling TypeScript at load time with tsx.
 *
 * Why: the same code as one bundle costs each process about 5 % less CPU per call than
 * as tsx's one module per file (bench/README.md, Bundles); tsx's own hooks are not the
 * cost (a bundle run with tsx loaded costs the same). Tests still run the sources.
 *
 * What is bundled: ClassConnect's own code (the workspaces, `@classconnect/*`); every
 * other package is imported from node_modules as usual. Files the code reads beside its
 * source (SQL migrations) are found where they are in the repository: each module's
 * `import.meta.url` is its source file's, not the bundle's. So a bundle runs from the
 * checkout (or image) it was built in, beside its sources; it is not a relocatable artefact.
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type BuildOptions, build, type Plugin, stop } from "esbuild";

const root = resolve(fileURLToPath(import.meta.url), "..", "..");

/** The platform's processes: the directory each lives in (its bundle goes to `<dir>/dist/main.mjs`). */
export const processDirs = {
  users: "services/users",
  courses: "services/courses",
  notifications: "services/notifications",
  admin: "services/admin",
  gateway: "gateway",
} as const;

export type ProcessName = keyof typeof processDirs;

/**
 * How every process's node runs its bundle (`npm start` here, the Dockerfile's CMD the same):
 * - `--enable-source-maps`: stack traces name the TypeScript sources.
 * - `--single-threaded-gc`: V8 collects garbage on the main thread instead of handing work
 *   to helper threads. Each process gets one CPU (the Helm chart's limit) and shares two
 *   cores with four others here, so helpers only add thread wake-ups: the courses service
 *   and the gateway spent 2–8 % less CPU per call with it (bench/README.md, Bundles).
 */
export const nodeFlags = ["--enable-source-maps", "--single-threaded-gc"];

/** Where `name`'s bundle is. */
export const bundlePath = (name: ProcessName) => join(root, processDirs[name], "dist", "main.mjs");

const workspaceOnly: Plugin = {
  name: "classconnect-workspaces",
  setup(b) {
    // Bare imports stay imports, except the workspaces' own packages (their exports are TypeScript).
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith("@classconnect/") ? undefined : { path: args.path, external: true },
    );
    b.onLoad({ filter: /\.ts$/ }, async (args) => ({
      contents: (await readFile(args.path, "utf8")).replaceAll(
        "import.meta.url",
        JSON.stringify(pathToFileURL(args.path).href),
      ),
      loader: "ts",
    }));
  },
};

/** esbuild's options for `name`'s bundle. */
export function bundleOptions(name: ProcessName): BuildOptions {
  return {
    absWorkingDir: root,
    entryPoints: [join(processDirs[name], "src", "main.ts")],
    outfile: bundlePath(name),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    sourcemap: "linked",
    plugins: [workspaceOnly],
    logLevel: "warning",
  };
}

/**
 * Builds every process's bundle (about a quarter of a second for all five), then stops
 * esbuild's helper process (it would stay for as long as `npm start` runs).
 */
export async function buildBundles(): Promise<void> {
  try {
    await Promise.all((Object.keys(processDirs) as ProcessName[]).map((name) => build(bundleOptions(name))));
  } finally {
    await stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  await buildBundles();
  process.stdout.write(
    `built ${Object.keys(processDirs).length} bundles in ${Math.round(performance.now() - started)} ms\n`,
  );
}
