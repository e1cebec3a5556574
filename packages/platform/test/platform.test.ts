import { Writable } from "node:stream";
import { BadRequestSchema, ErrorInfoSchema } from "@classconnect/gen/google/rpc/error_details_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { exportJWK, generateKeyPair } from "jose";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  AlreadyExistsError,
  ConfigError,
  type Cursor,
  callerTraceIds,
  createErrorInterceptor,
  createLogger,
  createRemoteKeySource,
  createTokenVerifier,
  decodePageToken,
  encodePageToken,
  FailedPreconditionError,
  freePort,
  InvalidArgumentError,
  loadConfig,
  loadSigningKey,
  MAX_PAGE_TOKEN_LENGTH,
  NotFoundError,
  type PageTokens,
  pageTokens,
  readBaseConfig,
  signAccessToken,
  toConnectError,
  USER_TOKEN_ISSUER,
} from "../src/index.js";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger("test", "debug", stream) };
}

const config = suite("platform: configuration");
config("reports every missing or malformed variable at once", () => {
  try {
    loadConfig(
      (e) => ({
        a: e.string("A"),
        b: e.int("B", 1, 0, 10),
        c: e.bool("C", false),
        d: e.oneOf("D", ["x", "y"], "x"),
      }),
      { B: "eleven", C: "maybe", D: "z" },
    );
    assert.unreachable("should throw");
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.equal((err as ConfigError).problems.length, 4);
    assert.match((err as Error).message, /A is required/);
    assert.match((err as Error).message, /B must be an integer between 0 and 10/);
  }
});
config(
  "requiredInProduction: required when NODE_ENV is production, optional otherwise; NODE_ENV checked once",
  () => {
    const read = (env: Record<string, string>) =>
      loadConfig((e) => ({ key: e.requiredInProduction("KEY") }), env);
    assert.equal(read({}), { key: undefined });
    assert.equal(read({ NODE_ENV: "test" }), { key: undefined });
    assert.equal(read({ NODE_ENV: "production", KEY: "k" }), { key: "k" });
    assert.throws(() => read({ NODE_ENV: "production" }), /KEY is required/);
    try {
      loadConfig((e) => [e.requiredInProduction("A"), e.requiredInProduction("B")], { NODE_ENV: "prod" });
      assert.unreachable("should throw");
    } catch (err) {
      assert.equal((err as ConfigError).problems, [
        'NODE_ENV must be one of development, test, production, got "prod"',
      ]);
    }
  },
);
config("applies defaults and parses values", () => {
  const c = loadConfig(
    (e) => ({ a: e.string("A", "dflt"), b: e.int("B", 1), c: e.bool("C", false), o: e.optional("O") }),
    {
      B: "7",
      C: "true",
      O: "",
    },
  );
  assert.equal(c, { a: "dflt", b: 7, c: true, o: undefined });
});
config(
  "services: connection age defaults to 5 minutes, 0 turns it off, and a malformed value is refused",
  () => {
    const base = { X_DATABASE_URL: "postgres://x", SERVICE_TOKEN: "t" };
    assert.is(loadConfig((e) => readBaseConfig(e, "X", 1), base).maxConnectionAgeMs, 300_000);
    assert.is(
      loadConfig((e) => readBaseConfig(e, "X", 1), { ...base, MAX_CONNECTION_AGE_MS: "0" })
        .maxConnectionAgeMs,
      0,
    );
    for (const bad of ["-1", "soon", "1.5"]) {
      assert.throws(
        () => loadConfig((e) => readBaseConfig(e, "X", 1), { ...base, MAX_CONNECTION_AGE_MS: bad }),
        /MAX_CONNECTION_AGE_MS must be an integer/,
      );
    }
  },
);
config(
  "services: request and keep-alive timeouts have defaults, are set from the environment, and 0 is refused",
  () => {
    const base = { X_DATABASE_URL: "postgres://x", SERVICE_TOKEN: "t" };
    const read = (env: Record<string, string>) =>
      loadConfig((e) => readBaseConfig(e, "X", 1), { ...base, ...env });
    assert.is(read({}).requestTimeoutMs, 300_000);
    assert.is(read({}).keepAliveTimeoutMs, 65_000);
    const set = read({ REQUEST_TIMEOUT_MS: "1000", KEEP_ALIVE_TIMEOUT_MS: "2000" });
    assert.equal([set.requestTimeoutMs, set.keepAliveTimeoutMs], [1000, 2000]);
    for (const name of ["REQUEST_TIMEOUT_MS", "KEEP_ALIVE_TIMEOUT_MS"]) {
      for (const bad of ["0", "soon"]) {
        assert.throws(() => read({ [name]: bad }), new RegExp(`${name} must be an integer`));
      }
    }
  },
);
config.run();

const errors = suite("platform: error mapping");
errors("domain errors keep their code, message and reason", () => {
  const { logger } = capture();
  const cases: [Error, Code][] = [
    [new NotFoundError("course"), Code.NotFound],
    [new AlreadyExistsError("taken", "EMAIL_TAKEN"), Code.AlreadyExists],
    [new FailedPreconditionError("full", "COURSE_FULL", { seats: "0" }), Code.FailedPrecondition],
    [new InvalidArgumentError([{ field: "x", description: "bad", reason: "X_BAD" }]), Code.InvalidArgument],
  ];
  for (const [err, code] of cases) {
    const e = toConnectError(err, "test", logger);
    assert.is(e.code, code);
    assert.is(e.rawMessage, err.message);
    assert.ok(e.findDetails(ErrorInfoSchema)[0]?.reason);
  }
  const full = toConnectError(
    new FailedPreconditionError("full", "COURSE_FULL", { seats: "0" }),
    "test",
    logger,
  );
  assert.equal(full.findDetails(ErrorInfoSchema)[0]?.metadata, { seats: "0" });
  const bad = toConnectError(new InvalidArgumentError([{ field: "x", description: "bad" }]), "test", logger);
  assert.equal(
    bad.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field),
    ["x"],
  );
});
errors("database constraint errors become client codes", () => {
  const { logger } = capture();
  assert.is(
    toConnectError(Object.assign(new Error("dup"), { code: "23505" }), "t", logger).code,
    Code.AlreadyExists,
  );
  assert.is(
    toConnectError(Object.assign(new Error("fk"), { code: "23503" }), "t", logger).code,
    Code.FailedPrecondition,
  );
  assert.is(
    toConnectError(Object.assign(new Error("ser"), { code: "40001" }), "t", logger).code,
    Code.Aborted,
  );
});
errors("unknown errors become INTERNAL without leaking, and are logged", () => {
  const { logger, lines } = capture();
  const e = toConnectError(new Error("secret table users_x broke at /srv/app.js:1"), "t", logger);
  assert.is(e.code, Code.Internal);
  assert.is(e.rawMessage, "internal error");
  assert.match(lines.join(""), /secret table users_x broke/);
  const passthrough = new ConnectError("x", Code.Unavailable);
  assert.is(toConnectError(passthrough, "t", logger), passthrough);
});
errors(
  "with tracing off, a failed call's log lines carry the trace id of the caller's traceparent",
  async () => {
    const { logger, lines } = capture();
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    const intercept = createErrorInterceptor("t", logger);
    const call = (traceparent: string | undefined) =>
      intercept(async () => {
        throw new Error("the disk is on fire");
      })({
        service: { typeName: "t.v1.T" },
        method: { name: "Get" },
        header: new Headers(traceparent ? { traceparent } : {}),
      } as never);
    try {
      await call(`00-${traceId}-${parentId}-01`);
      assert.unreachable("should throw");
    } catch (err) {
      assert.is((err as ConnectError).code, Code.Internal);
    }
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const failure = logged.find((l) => l["msg"] === "unexpected error");
    assert.is(failure?.["trace_id"], traceId);
    assert.is(failure?.["parent_span_id"], parentId);
    assert.is(logged.find((l) => l["msg"] === "rpc")?.["trace_id"], traceId);
    // No header, a malformed one, or an all-zero (invalid) trace id: no ids rather than wrong ones.
    lines.length = 0;
    for (const bad of [undefined, "garbage", `00-${"0".repeat(32)}-${parentId}-01`]) {
      await call(bad).catch(() => {});
    }
    assert.is(lines.length, 6);
    assert.not.match(lines.join(""), /trace_id/);
    assert.equal(callerTraceIds(new Headers({ traceparent: `00-${traceId}-${parentId}-00` })), {
      trace_id: traceId,
      parent_span_id: parentId,
    });
  },
);
errors.run();

const logging = suite("platform: logging");
logging("redacts passwords, tokens, PINs, e-mails and authorization headers", () => {
  const { logger, lines } = capture();
  logger.info(
    {
      password: "hunter22",
      refreshToken: "r-tok",
      body: { newPassword: "n-pw", pin: "123456", email: "a@b.c", idToken: "g-tok" },
      headers: { authorization: "Bearer abc.def.ghi" },
    },
    "event",
  );
  const out = lines.join("");
  for (const secret of ["hunter22", "r-tok", "n-pw", "123456", "a@b.c", "g-tok", "abc.def.ghi"]) {
    assert.not.match(out, secret);
  }
  assert.match(out, /\[redacted\]/);
  assert.match(out, /"level":"info"/);
});
logging.run();

const tokens = suite("platform: tokens");
tokens("keys derived from a signing key follow that key and their purpose", async () => {
  const jwk = JSON.stringify(
    await exportJWK((await generateKeyPair("EdDSA", { extractable: true })).privateKey),
  );
  const [one, again, other] = [await loadSigningKey(jwk), await loadSigningKey(jwk), await loadSigningKey()];
  assert.is(one.deriveKey("a").length, 32);
  assert.ok(
    one.deriveKey("a").equals(again.deriveKey("a")),
    "same key and purpose: same key (every replica)",
  );
  assert.not.ok(one.deriveKey("a").equals(one.deriveKey("b")), "another purpose");
  assert.not.ok(one.deriveKey("a").equals(other.deriveKey("a")), "another signing key");
  const { d: _, ...publicOnly } = JSON.parse(jwk);
  const refused = await loadSigningKey(JSON.stringify(publicOnly)).then(
    () => undefined,
    (e: Error) => e.message,
  );
  assert.is(refused, "signing key must be an Ed25519 private JWK");
});
tokens("the remote key source refreshes on an unknown kid, at most once per interval", async () => {
  const first = await loadSigningKey();
  const second = await loadSigningKey();
  let published = [first.publicJwk];
  let fetches = 0;
  const source = createRemoteKeySource(
    async () => {
      fetches++;
      return published;
    },
    { minRefreshMs: 60_000 },
  );
  const verifier = createTokenVerifier({ user: source });
  const t1 = await signAccessToken(first, USER_TOKEN_ISSUER, { sub: "u", sid: "s", typ: "user" }, 60);
  assert.equal(await verifier.verify(t1.token), { typ: "user", sub: "u", sid: "s" });
  assert.is(fetches, 1);
  await verifier.verify(t1.token);
  assert.is(fetches, 1, "cached");
  published = [first.publicJwk, second.publicJwk];
  const t2 = await signAccessToken(second, USER_TOKEN_ISSUER, { sub: "u", sid: "s", typ: "user" }, 60);
  try {
    await verifier.verify(t2.token);
    assert.unreachable("refresh is rate-limited");
  } catch (err) {
    assert.is((err as { reason?: string }).reason, "TOKEN_INVALID");
  }
  assert.is(fetches, 1);
  const eager = createTokenVerifier({
    user: createRemoteKeySource(async () => published, { minRefreshMs: 0 }),
  });
  assert.is((await eager.verify(t2.token)).sub, "u");
});
tokens.run();

const paging = suite("platform: page tokens");
paging("round-trip and refuse forged tokens with INVALID_ARGUMENT", () => {
  const isCursor = (v: unknown): v is { id: string } => typeof (v as { id?: unknown })?.id === "string";
  assert.equal(decodePageToken(encodePageToken({ id: "x" }), isCursor), { id: "x" });
  assert.is(decodePageToken("", isCursor), undefined);
  assert.throws(
    () => decodePageToken("bm9wZQ", isCursor),
    (e: Error) => e instanceof InvalidArgumentError,
  );
  assert.throws(
    () => decodePageToken("%%%", isCursor),
    (e: Error) => e instanceof InvalidArgumentError,
  );
});
paging("a list's tokens: refused by another list, or with a key of the wrong type", () => {
  const id = "0b4c5a8e-2f1d-4e7a-9c3b-6d5e4f3a2b1c";
  const refused = (f: () => unknown) =>
    assert.throws(f, (e: Error) => e instanceof InvalidArgumentError && /page token/.test(e.message));
  /** A cursor's round trip through one list's token, the same request asking for the next page. */
  const roundTrip = (tokens: PageTokens, cursor: Cursor) =>
    tokens.read({ pageToken: tokens.write(cursor, first) });
  const first = { pageToken: "" };
  const byTime = pageTokens("a.by-time", "time");
  const t = "2026-11-26T04:00:00.000Z";
  assert.equal(roundTrip(byTime, { key: t, id }), { key: t, id });
  assert.is(byTime.write(undefined, first), "");
  assert.is(byTime.read(first), undefined);
  refused(() => pageTokens("a.by-title", "text").read({ pageToken: byTime.write({ key: t, id }, first) }));
  for (const key of ["tomorrow", "2026-02-30T00:00:00.000Z", "0000-01-01T00:00:00.000Z", "2026-11-26", 5]) {
    refused(() => roundTrip(byTime, { key, id }));
  }
  refused(() => roundTrip(byTime, { key: t, id: "not-a-uuid" }));
  const byText = pageTokens("a.by-title", "text");
  assert.equal(roundTrip(byText, { key: "any ' text", id }), { key: "any ' text", id });
  refused(() => roundTrip(byText, { key: "nul\0", id }));
  refused(() => roundTrip(byText, { key: 5, id }));
  const byNumber = pageTokens("a.by-seq", "integer");
  assert.equal(roundTrip(byNumber, { key: 41, id }), { key: 41, id });
  refused(() => roundTrip(byNumber, { key: "41", id }));
  refused(() => roundTrip(byNumber, { key: 1.5, id }));
  const byId = pageTokens("a.by-id", "none");
  assert.equal(roundTrip(byId, { key: "", id }), { key: "", id });
  refused(() => roundTrip(byId, { key: "x", id }));
  const custom = pageTokens("a.custom", (k) => k === "ok");
  assert.equal(roundTrip(custom, { key: "ok", id }), { key: "ok", id });
  refused(() => roundTrip(custom, { key: "no", id }));
});
paging(
  "a token is for the next page of the same query: other filters are refused, another page size is not",
  () => {
    const id = "0b4c5a8e-2f1d-4e7a-9c3b-6d5e4f3a2b1c";
    const tokens = pageTokens("a.filtered", "time");
    const query = {
      courseId: id,
      states: [1, 2],
      from: { seconds: 1_800_000_000n, nanos: 0 },
      pageSize: 2,
      pageToken: "",
    };
    const pageToken = tokens.write({ key: "2026-11-26T04:00:00.000Z", id }, query);
    const next = { key: "2026-11-26T04:00:00.000Z", id };
    assert.equal(tokens.read({ ...query, pageToken }), next);
    // The keys in another order are the same query; a bigger page of it too.
    const { courseId, ...rest } = query;
    const reordered = { ...rest, courseId, pageSize: 50, pageToken };
    assert.equal(Object.keys(reordered)[0], "states");
    assert.equal(tokens.read(reordered), next);
    for (const other of [
      { courseId: "1b4c5a8e-2f1d-4e7a-9c3b-6d5e4f3a2b1c" },
      { states: [2, 1] },
      { from: { seconds: 1_800_000_001n, nanos: 0 } },
      { keyword: "x" },
    ]) {
      assert.throws(
        () => tokens.read({ ...query, ...other, pageToken }),
        (e: Error) => e instanceof InvalidArgumentError && /with other filters/.test(e.message),
        JSON.stringify(other, (_, v) => (typeof v === "bigint" ? String(v) : v)),
      );
    }
  },
);
paging(
  "the longest key a list holds makes a token the contract takes; a longer one is never handed out",
  () => {
    const id = "0b4c5a8e-2f1d-4e7a-9c3b-6d5e4f3a2b1c";
    // The longest list name, and a full name of two 100-character halves, each character one
    // that JSON writes in six bytes.
    const tokens = pageTokens("courses.catalog.create_time", "text");
    const longest = { key: "\u0001".repeat(201), id };
    const token = tokens.write(longest, { pageToken: "" });
    assert.ok(token.length <= MAX_PAGE_TOKEN_LENGTH, `${token.length} characters`);
    assert.equal(tokens.read({ pageToken: token }), longest);
    assert.throws(
      () => tokens.write({ key: "\u0001".repeat(300), id }, { pageToken: "" }),
      (e: Error) => !(e instanceof InvalidArgumentError) && /over 2048/.test(e.message),
    );
  },
);
paging.run();

const ports = suite("platform: free ports");
ports("freePort never hands this process the same port twice", async () => {
  // The kernel alone repeats itself within a few hundred calls (bind to port 0). Kept
  // small: the ports stay taken for the rest of this test process.
  const given = [];
  for (let i = 0; i < 500; i++) given.push(await freePort());
  assert.is(new Set(given).size, given.length);
  assert.ok(given.every((port) => port > 0 && port < 65536));
});
ports.run();
