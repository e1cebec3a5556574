/**
 * The replacement for Node 20's `AsyncResource#bind` must behave as Node's does (async
 * scope, `this`, `length`, the deprecated `asyncResource` accessor and its warning) while
 * sharing one accessor pair, and node:http2 must keep working on top of it.
 */
import { AsyncLocalStorage, AsyncResource } from "node:async_hooks";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { fixAsyncResourceBind } from "../src/node-fixes.js";

const test = suite("platform: Node fixes");

type Bind = (this: AsyncResource, fn: unknown, thisArg?: unknown) => (...args: unknown[]) => unknown;
const nodeBind = AsyncResource.prototype.bind as unknown as Bind;
/** `r.bind` as Node defines it (the typings leave out `thisArg`). */
const bind = (r: AsyncResource, fn: unknown, thisArg?: unknown) =>
  (AsyncResource.prototype.bind as unknown as Bind).call(r, fn, thisArg);
const accessorOf = (fn: unknown) => Object.getOwnPropertyDescriptor(fn, "asyncResource")?.get;
const nodeMakesAccessors = (() => {
  const r = new AsyncResource("t", { requireManualDestroy: true });
  const first = accessorOf(r.bind(() => {}));
  return first !== accessorOf(r.bind(() => {}));
})();
const installed = fixAsyncResourceBind();
/**
 * What compares the fix with Node's own `bind` runs only where it is installed (Node 20 here
 * and in CI); a Node whose `bind` makes no accessors per call is left as it ships.
 */
const whereInstalled = installed ? test : test.skip;

test("installed exactly where Node's bind makes accessors per call, and only once", () => {
  assert.is(installed, nodeMakesAccessors);
  assert.is((AsyncResource.prototype.bind as unknown) !== nodeBind, nodeMakesAccessors);
  assert.is(fixAsyncResourceBind(), false);
});

whereInstalled("bound functions share one accessor pair", () => {
  const r = new AsyncResource("t", { requireManualDestroy: true });
  const first = accessorOf(r.bind(() => {}));
  assert.ok(first);
  assert.is(accessorOf(r.bind(() => {})), first);
});

test("a bound function runs in the resource's async scope, with the caller's or the given this", () => {
  const als = new AsyncLocalStorage<string>();
  const r = als.run("at bind", () => new AsyncResource("t", { requireManualDestroy: true }));
  const seen = als.run("at call", () =>
    r.bind(function (this: unknown, a: number, b: number) {
      return [als.getStore(), this, a + b];
    }),
  );
  const self = { name: "caller" };
  assert.equal(
    als.run("at call", () => seen.call(self, 1, 2)),
    ["at bind", self, 3],
  );
  const given = { name: "given" };
  const withThis = bind(
    r,
    function (this: unknown) {
      return [als.getStore(), this];
    },
    given,
  );
  assert.equal(
    als.run("at call", () => withThis.call(self)),
    ["at bind", given],
  );
  // The static form goes through the same method.
  const staticBound = als.run("static", () => AsyncResource.bind(() => als.getStore()));
  assert.is(als.run("at call", staticBound), "static");
});

whereInstalled(
  "the bound function's properties are Node's: length, asyncResource (get and set), their flags",
  () => {
    const r = new AsyncResource("t", { requireManualDestroy: true });
    const other = new AsyncResource("u", { requireManualDestroy: true });
    const fixed = r.bind((_a: number, _b: number, _c: number) => 0) as unknown as {
      asyncResource: AsyncResource;
    };
    const node = nodeBind.call(r, (_a: number, _b: number, _c: number) => 0) as unknown as {
      asyncResource: AsyncResource;
    };
    assert.is((fixed as unknown as () => void).length, 3);
    const flags = (o: object, key: string) => {
      const d = Object.getOwnPropertyDescriptor(o, key)!;
      return [d.enumerable, d.configurable, "value" in d ? d.writable : "accessor"];
    };
    assert.equal(flags(fixed, "length"), flags(node, "length"));
    const noArgs = () => 0;
    assert.is(r.bind(noArgs).length, 0);
    assert.equal(flags(r.bind(noArgs), "length"), flags(nodeBind.call(r, noArgs), "length"));
    assert.equal(flags(fixed, "asyncResource"), flags(node, "asyncResource"));
    assert.equal(Object.keys(fixed), Object.keys(node));
    assert.is(fixed.asyncResource, r);
    const second = r.bind(() => 0) as unknown as { asyncResource: AsyncResource };
    fixed.asyncResource = other;
    assert.is(fixed.asyncResource, other);
    assert.is(second.asyncResource, r, "setting one function's resource leaves the others'");
    assert.throws(
      () => r.bind(42 as never),
      (err: NodeJS.ErrnoException) => err.code === "ERR_INVALID_ARG_TYPE",
    );
  },
);

whereInstalled("reading asyncResource still warns DEP0172", () => {
  // In a process of its own: Node warns once per code, and another suite may have read it first.
  const script = `
    import { AsyncResource } from "node:async_hooks";
    const { fixAsyncResourceBind } = await import(process.argv[1]);
    process.stdout.write(String(fixAsyncResourceBind()));
    void new AsyncResource("t").bind(() => 0).asyncResource;`;
  const run = spawnSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      script,
      fileURLToPath(new URL("../src/node-fixes.ts", import.meta.url)),
    ],
    { encoding: "utf8", timeout: 20_000 },
  );
  assert.is(run.status, 0, run.stderr);
  assert.is(run.stdout, String(nodeMakesAccessors), "installed there as here");
  assert.match(
    run.stderr,
    /\[DEP0172\] DeprecationWarning: The asyncResource property on bound functions is deprecated/,
  );
});

test("node:http2 requests still work on top of it", async () => {
  const server = http2.createServer((req, res) => res.end(`echo ${req.url}`));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const bodies = await Promise.all(
      [1, 2, 3].map(
        (n) =>
          new Promise<string>((resolve, reject) => {
            const stream = session.request({ ":path": `/${n}` });
            let body = "";
            stream.setEncoding("utf8").on("data", (c: string) => {
              body += c;
            });
            stream.on("end", () => resolve(body)).on("error", reject);
          }),
      ),
    );
    assert.equal(bodies, ["echo /1", "echo /2", "echo /3"]);
  } finally {
    session.close();
    server.close();
  }
});

test.run();
