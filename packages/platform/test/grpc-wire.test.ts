/**
 * `headersFrom`: Node's parsed headers seen as fetch Headers. It answers `get` and `has`
 * from Node's object and fills itself only when iterated or changed; either way it must
 * read exactly as Headers filled up front would.
 */
import { inspect } from "node:util";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { headersFrom } from "../src/grpc-wire.js";

const test = suite("platform: headers from Node");

const raw = () => ({
  ":path": "/classconnect.courses.v1.CourseService/GetCourse",
  ":authority": "courses:8080",
  authorization: "Bearer abc",
  "grpc-timeout": "5000m",
  "set-cookie": ["a=1", "b=2"],
  te: "trailers",
});

/** What the view must equal: the same headers filled up front, pseudo-headers left out. */
const filled = () => {
  const h = new Headers();
  for (const [k, v] of Object.entries(raw())) {
    if (!k.startsWith(":")) h.append(k, Array.isArray(v) ? v.join(", ") : v);
  }
  return h;
};

test("get and has read Node's headers, case-insensitively, without pseudo-headers", () => {
  const h = headersFrom(raw());
  assert.ok(h instanceof Headers);
  assert.is(h.get("Authorization"), "Bearer abc");
  assert.is(h.get("grpc-timeout"), "5000m");
  assert.is(h.get("set-cookie"), "a=1, b=2");
  assert.is(h.get("x-missing"), null);
  assert.ok(h.has("TE"));
  assert.not.ok(h.has("x-missing"));
  // As filled Headers do, a pseudo-header name is refused, not read.
  assert.throws(() => h.get(":path"), /invalid header name/);
});

test("iterating gives what filled Headers give, in the same order", () => {
  assert.equal([...headersFrom(raw())], [...filled()]);
  assert.equal([...headersFrom(raw()).entries()], [...filled().entries()]);
  assert.equal([...headersFrom(raw()).keys()], [...filled().keys()]);
  assert.equal([...headersFrom(raw()).values()], [...filled().values()]);
  assert.equal([...new Headers(headersFrom(raw()))], [...filled()]);
  const seen: string[] = [];
  headersFrom(raw()).forEach((value, key) => {
    seen.push(`${key}=${value}`);
  });
  assert.equal(
    seen,
    [...filled()].map(([k, v]) => `${k}=${v}`),
  );
  assert.equal(headersFrom(raw()).getSetCookie(), filled().getSetCookie());
  assert.is(inspect(headersFrom(raw())), inspect(filled()));
});

test("changes apply on top of Node's headers, and later reads see them", () => {
  const node = raw();
  const h = headersFrom(node);
  h.set("authorization", "Bearer other");
  h.append("x-extra", "1");
  h.delete("te");
  assert.is(h.get("authorization"), "Bearer other");
  assert.is(h.get("x-extra"), "1");
  assert.not.ok(h.has("te"));
  assert.equal([...h.keys()], ["authorization", "grpc-timeout", "set-cookie", "x-extra"]);
  // Node's object is left as it was.
  assert.equal(node, raw());
});

test("no headers give empty Headers", () => {
  assert.equal([...headersFrom(undefined)], []);
});

test.run();
