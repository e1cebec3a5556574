import { randomBytes, randomUUID } from "node:crypto";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createRefreshTokenCodec } from "../src/domain/refresh-tokens.js";

const test = suite("users: refresh token codec");
const codec = createRefreshTokenCodec(randomBytes(32));

test("a token reads back as its session and generation", () => {
  const sessionId = randomUUID();
  for (const generation of [0, 1, 4_294_967_295]) {
    const token = codec.issue({ sessionId, generation });
    assert.match(token, /^[A-Za-z0-9_-]{71}$/);
    assert.equal(codec.read(token), { sessionId, generation });
  }
  assert.is.not(codec.issue({ sessionId, generation: 1 }), codec.issue({ sessionId, generation: 2 }));
});

test("a changed byte anywhere, another key, or another shape is refused", () => {
  const token = codec.issue({ sessionId: randomUUID(), generation: 7 });
  const bytes = Buffer.from(token, "base64url");
  for (let i = 0; i < bytes.length; i++) {
    const changed = Buffer.from(bytes);
    changed[i]! ^= 1;
    assert.is(codec.read(changed.toString("base64url")), undefined, `byte ${i}`);
  }
  assert.is(createRefreshTokenCodec(randomBytes(32)).read(token), undefined, "another key");
  for (const other of ["", "made-up", token.slice(1), `${token}A`, `${token}=`, `${token.slice(0, -1)}.`]) {
    assert.is(codec.read(other), undefined, other);
  }
});

test.run();
