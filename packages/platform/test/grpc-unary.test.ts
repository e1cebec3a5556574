/**
 * The lean unary gRPC path, server (src/grpc-unary.ts) and client
 * (src/grpc-client.ts): the same interceptors and handlers as connect-node,
 * connect's own encoding of statuses and error details, deadlines and
 * cancellation, and clear errors for malformed requests. Each call-level test
 * runs with connect-node's gRPC client and with the lean one; bytes no client
 * would send come from raw HTTP/2.
 */
import * as http2 from "node:http2";
import { setTimeout as sleep } from "node:timers/promises";
import { create, fromBinary, toBinary, toJsonString } from "@bufbuild/protobuf";
import {
  AuthService,
  GetJwksRequestSchema,
  GetJwksResponseSchema,
} from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "@classconnect/gen/google/rpc/error_details_pb.js";
import { Code, ConnectError, createClient, createContextValues } from "@connectrpc/connect";
import { createMethodSerializationLookup } from "@connectrpc/connect/protocol";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  callAbortKey,
  createLeanGrpcTransport,
  EncodedMessage,
  LazyAbort,
  NotFoundError,
  type RunningServer,
  startServer,
  unparsableBinaryMessage,
} from "../src/index.js";
import { testLogger } from "../src/testing/index.js";

const test = suite<{ server: RunningServer; aborts: unknown[]; slowStarted: number }>(
  "platform: unary gRPC path",
);

test.before(async (ctx) => {
  ctx.aborts = [];
  ctx.slowStarted = 0;
  ctx.server = await startServer({
    name: "t",
    port: 0,
    logger: testLogger("t"),
    ready: async () => true,
    readMaxBytes: 1024,
    routes(router) {
      router.service(AuthService, {
        async getJwks(_req, call) {
          const mode = call.requestHeader.get("x-mode");
          if (mode === "fail") throw new NotFoundError("thing");
          if (mode === "slow") {
            ctx.slowStarted++;
            await new Promise<void>((resolve) => {
              call.signal.addEventListener("abort", () => {
                ctx.aborts.push(call.signal.reason);
                resolve();
              });
            });
            // As a handler should: its signal's reason (cancelled, deadline) is its answer.
            throw call.signal.reason;
          }
          call.responseHeader.set("x-reply", "header");
          call.responseTrailer.set("x-trailer", "trailer");
          return create(GetJwksResponseSchema, { keys: [{ kid: call.requestHeader.get("x-value") ?? "" }] });
        },
        // Login's request has protovalidate rules: the validation interceptor must run.
        async login() {
          return {};
        },
      });
    },
  });
});
test.after(async (ctx) => {
  await ctx.server?.close();
});

const clients = {
  "connect-node client": (url: string) => createClient(AuthService, createGrpcTransport({ baseUrl: url })),
  "lean client": (url: string) => createClient(AuthService, createLeanGrpcTransport({ baseUrl: url })),
};

async function codeOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("the call succeeded");
}

/** One raw gRPC request: the response headers, body and trailers as sent. */
async function raw(url: string, path: string, body: Buffer, headers: Record<string, string> = {}) {
  const session = http2.connect(url);
  try {
    return await new Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders }>(
      (resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc+proto",
          te: "trailers",
          ...headers,
        });
        let responseHeaders: http2.IncomingHttpHeaders = {};
        let trailers: http2.IncomingHttpHeaders = {};
        stream.on("response", (h) => {
          responseHeaders = h;
        });
        stream.on("trailers", (t) => {
          trailers = t;
        });
        stream.on("data", () => {});
        stream.on("end", () => resolve({ headers: responseHeaders, trailers }));
        stream.on("error", reject);
        stream.end(body);
      },
    );
  } finally {
    session.close();
  }
}

const envelope = (payload: Uint8Array, flags = 0) => {
  const frame = Buffer.alloc(5 + payload.length);
  frame[0] = flags;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
};
const statusOf = (r: { headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders }) =>
  Number(r.trailers["grpc-status"] ?? r.headers["grpc-status"]);

for (const [name, grpc] of Object.entries(clients)) {
  test(`${name}: a call reaches its handler with its headers; response headers and trailers come back`, async ({
    server,
  }) => {
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const res = await grpc(server.url).getJwks(
      {},
      {
        headers: { "x-value": "echoed" },
        onHeader: (h) => {
          header = h;
        },
        onTrailer: (t) => {
          trailer = t;
        },
      },
    );
    assert.is(res.keys[0]?.kid, "echoed");
    assert.is(header?.get("x-reply"), "header");
    assert.is(trailer?.get("x-trailer"), "trailer");
  });

  test(`${name}: domain errors and validation failures arrive with their codes and details`, async ({
    server,
  }) => {
    const notFound = await codeOf(grpc(server.url).getJwks({}, { headers: { "x-mode": "fail" } }));
    assert.is(notFound.code, Code.NotFound);
    assert.is(notFound.findDetails(ErrorInfoSchema)[0]?.reason, "NOT_FOUND");
    const invalid = await codeOf(grpc(server.url).login({ email: "", password: "" }));
    assert.is(invalid.code, Code.InvalidArgument);
    const fields = invalid.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field) ?? [];
    assert.ok(fields.includes("email") && fields.includes("password"), fields.join(", "));
  });

  test(`${name}: a deadline ends the call (DEADLINE_EXCEEDED) and a cancel reaches the handler's signal`, async (ctx) => {
    ctx.aborts.length = 0;
    ctx.slowStarted = 0;
    const client = grpc(ctx.server.url);
    const late = await codeOf(client.getJwks({}, { headers: { "x-mode": "slow" }, timeoutMs: 100 }));
    assert.is(late.code, Code.DeadlineExceeded);
    const abort = new AbortController();
    const cancelled = codeOf(client.getJwks({}, { headers: { "x-mode": "slow" }, signal: abort.signal }));
    // Cancel once the call is in its handler (a busy machine may take a while to get it there).
    for (let i = 0; i < 200 && ctx.slowStarted < 2; i++) await sleep(10);
    abort.abort();
    assert.is((await cancelled).code, Code.Canceled);
    for (let i = 0; i < 200 && ctx.aborts.length < 2; i++) await sleep(10);
    const [atDeadline, atCancel] = ctx.aborts.map((r) => ConnectError.from(r).code);
    // The client keeps the same deadline: whichever side notices it first ends the call
    // (the server's own deadline is pinned down below, with a caller that keeps no timer).
    assert.ok(
      atDeadline === Code.DeadlineExceeded || atDeadline === Code.Canceled,
      `the handler saw ${atDeadline}`,
    );
    assert.is(atCancel, Code.Canceled);
  });
}

test("lean client: a LazyAbort in the context values cancels the call without making a signal; one aborted first never starts", async (ctx) => {
  ctx.aborts.length = 0;
  ctx.slowStarted = 0;
  const client = createClient(AuthService, createLeanGrpcTransport({ baseUrl: ctx.server.url }));
  const cancel = new LazyAbort();
  const call = codeOf(
    client.getJwks(
      {},
      { headers: { "x-mode": "slow" }, contextValues: createContextValues().set(callAbortKey, cancel) },
    ),
  );
  for (let i = 0; i < 200 && ctx.slowStarted < 1; i++) await sleep(10);
  cancel.abort(new ConnectError("the caller left", Code.Canceled));
  const error = await call;
  assert.is(error.code, Code.Canceled);
  assert.is(error.rawMessage, "the caller left");
  for (let i = 0; i < 200 && ctx.aborts.length < 1; i++) await sleep(10);
  assert.is(ConnectError.from(ctx.aborts[0]).code, Code.Canceled, "the cancel reached the handler");
  assert.not.ok(cancel.signalMade, "no AbortSignal was made");

  const before = new LazyAbort();
  before.abort(new ConnectError("gone already", Code.Canceled));
  const started = ctx.slowStarted;
  const early = await codeOf(
    client.getJwks(
      {},
      { headers: { "x-mode": "slow" }, contextValues: createContextValues().set(callAbortKey, before) },
    ),
  );
  assert.is(early.code, Code.Canceled);
  await sleep(50);
  assert.is(ctx.slowStarted, started, "the call never reached the server");
});

test("the server's own deadline: a caller that keeps no timer gets DEADLINE_EXCEEDED, and the handler's signal says so", async (ctx) => {
  ctx.aborts.length = 0;
  const valid = toBinary(GetJwksRequestSchema, create(GetJwksRequestSchema, {}));
  const answer = await Promise.race([
    raw(ctx.server.url, "/classconnect.users.v1.AuthService/GetJwks", envelope(valid), {
      "grpc-timeout": "100m",
      "x-mode": "slow",
    }),
    sleep(5000, undefined, { ref: false }).then((): never => {
      throw new Error("no answer 5 s after a 100 ms deadline");
    }),
  ]);
  assert.is(statusOf(answer), Code.DeadlineExceeded);
  assert.equal(
    ctx.aborts.map((r) => ConnectError.from(r).code),
    [Code.DeadlineExceeded],
  );
});

test("malformed requests get clear codes, never a crash", async ({ server }) => {
  const path = "/classconnect.users.v1.AuthService/GetJwks";
  const valid = toBinary(GetJwksRequestSchema, create(GetJwksRequestSchema, {}));
  // A length prefix that does not match the body.
  assert.is(statusOf(await raw(server.url, path, Buffer.from([0, 0, 0, 0, 9, 1]))), Code.InvalidArgument);
  // Fewer bytes than an envelope header.
  assert.is(statusOf(await raw(server.url, path, Buffer.from([0, 0]))), Code.InvalidArgument);
  // Bytes that are no protobuf message.
  assert.is(
    statusOf(await raw(server.url, path, envelope(Buffer.from([0xff, 0xff, 0xff])))),
    Code.InvalidArgument,
  );
  // A compressed flag without a grpc-encoding.
  assert.is(statusOf(await raw(server.url, path, envelope(valid, 1))), Code.Internal);
  // More than the server's read limit (1 KiB here).
  assert.is(statusOf(await raw(server.url, path, envelope(Buffer.alloc(2048)))), Code.ResourceExhausted);
  // A malformed deadline.
  assert.is(
    statusOf(await raw(server.url, path, envelope(valid), { "grpc-timeout": "soon" })),
    Code.InvalidArgument,
  );
  // An unknown method is connect-node's to answer: HTTP 404, which gRPC clients read as UNIMPLEMENTED.
  const unknown = await raw(server.url, "/classconnect.users.v1.AuthService/Nope", envelope(valid));
  assert.is(unknown.headers[":status"], 404);
  // And the server still serves.
  assert.is(statusOf(await raw(server.url, path, envelope(valid))), 0);
});

test("lean client: an unreachable upstream is UNAVAILABLE, one that stops mid-answer INTERNAL; an aborted call never starts", async () => {
  const gone = createClient(AuthService, createLeanGrpcTransport({ baseUrl: "http://127.0.0.1:1" }));
  assert.is((await codeOf(gone.getJwks({}))).code, Code.Unavailable);
  const abort = new AbortController();
  abort.abort();
  assert.is((await codeOf(gone.getJwks({}, { signal: abort.signal }))).code, Code.Canceled);
  // An upstream that starts answering, then stops before any status: INTERNAL, as gRPC specifies.
  const resetting = http2.createServer();
  resetting.on("stream", (stream) => {
    stream.on("error", () => {}); // its own reset, below
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" });
    stream.write(Buffer.from([0, 0, 0, 0, 10, 1])); // part of a message…
    setTimeout(() => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR), 10); // …then gone
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  resetting.on("session", (session) => sessions.add(session));
  await new Promise<void>((resolve) => resetting.listen(0, "127.0.0.1", resolve));
  const port = (resetting.address() as { port: number }).port;
  try {
    const client = createClient(
      AuthService,
      createLeanGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }),
    );
    assert.is((await codeOf(client.getJwks({}))).code, Code.Internal);
  } finally {
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => resetting.close(() => resolve()));
  }
});

/**
 * A raw gRPC upstream answering GetJwks, which refuses streams as `refuse` says, before
 * any handler sees them: "goaway" sends a GOAWAY whose last stream is the one before (as
 * a server starting to drain does), "reset" resets the stream with REFUSED_STREAM (as a
 * server over its stream limit does) and keeps the connection.
 */
async function refusingUpstream(refuse: (streamId: number) => "goaway" | "reset" | undefined) {
  const server = http2.createServer();
  const seen = { sessions: 0, streams: 0, answered: 0 };
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    seen.sessions++;
    sessions.add(session);
  });
  server.on("stream", (stream) => {
    seen.streams++;
    stream.on("error", () => {}); // the refusal resets it
    const refusal = refuse(stream.id!);
    if (refusal === "goaway") {
      stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id! - 2);
      return;
    }
    if (refusal === "reset") {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    stream.on("data", () => {});
    stream.on("end", () => {
      seen.answered++;
      const answer = toBinary(GetJwksResponseSchema, create(GetJwksResponseSchema, { keys: [{ kid: "k" }] }));
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(envelope(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    seen,
    client: createClient(
      AuthService,
      createLeanGrpcTransport({ baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}` }),
    ),
    async close() {
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test("lean client: a stream refused by a server going away is sent again on a new connection", async () => {
  // Every connection takes its first stream and refuses the next (GOAWAY after stream 1).
  const upstream = await refusingUpstream((id) => (id > 1 ? "goaway" : undefined));
  try {
    const first = await upstream.client.getJwks({});
    assert.is(first.keys[0]?.kid, "k");
    // Sent on the first connection, refused, sent again on a second one.
    const second = await upstream.client.getJwks({}, { timeoutMs: 5_000 });
    assert.is(second.keys[0]?.kid, "k");
    assert.equal(upstream.seen, { sessions: 2, streams: 3, answered: 2 });
  } finally {
    await upstream.close();
  }
});

test("lean client: a stream refused on a connection that stays is sent again, a bounded number of times, then UNAVAILABLE", async () => {
  // Refuses every stream but the fourth.
  const upstream = await refusingUpstream((id) => (id === 7 ? undefined : "reset"));
  try {
    const error = await codeOf(upstream.client.getJwks({}));
    assert.is(error.code, Code.Unavailable);
    assert.match(error.message, /REFUSED_STREAM/);
    assert.equal(upstream.seen, { sessions: 1, streams: 3, answered: 0 });
    // The connection still serves: the next call's stream (7) is answered.
    assert.is((await upstream.client.getJwks({})).keys[0]?.kid, "k");
    assert.equal(upstream.seen, { sessions: 1, streams: 4, answered: 1 });
  } finally {
    await upstream.close();
  }
});

test("gRPC's JSON codec: the lean server reads and writes it as connect-node does; the lean client forwards a message in either encoding and gets the answer in it", async ({
  server,
}) => {
  const lean = createLeanGrpcTransport({ baseUrl: server.url });
  const utf8 = new TextEncoder();
  const text = (m: EncodedMessage) => new TextDecoder().decode(m.bytes);
  const getJwks = AuthService.method.getJwks;
  // JSON in, JSON out.
  const json = await lean.forward(
    getJwks,
    undefined,
    undefined,
    new Headers({ "x-value": "as json" }),
    new EncodedMessage("json", utf8.encode("{}")),
    undefined,
  );
  assert.instance(json.message, EncodedMessage);
  assert.is(json.message.encoding, "json");
  assert.is(
    text(json.message),
    toJsonString(GetJwksResponseSchema, create(GetJwksResponseSchema, { keys: [{ kid: "as json" }] })),
  );
  assert.is(json.header.get("x-reply"), "header");
  assert.is(json.trailer.get("x-trailer"), "trailer");
  // Binary in, binary out.
  const proto = await lean.forward(
    getJwks,
    undefined,
    undefined,
    new Headers({ "x-value": "as proto" }),
    new EncodedMessage("proto", toBinary(GetJwksRequestSchema, create(GetJwksRequestSchema, {}))),
    undefined,
  );
  assert.is(proto.message.encoding, "proto");
  assert.is(fromBinary(GetJwksResponseSchema, proto.message.bytes).keys[0]?.kid, "as proto");
  // Errors: the handler's, validation's (on a message read from JSON), and the codecs'.
  const forwardError = (
    method: typeof getJwks,
    message: EncodedMessage,
    headers: Record<string, string> = {},
  ) => codeOf(lean.forward(method, undefined, undefined, new Headers(headers), message, undefined));
  const notFound = await forwardError(getJwks, new EncodedMessage("json", utf8.encode("{}")), {
    "x-mode": "fail",
  });
  assert.is(notFound.code, Code.NotFound);
  const invalid = await forwardError(
    AuthService.method.login as unknown as typeof getJwks,
    new EncodedMessage("json", utf8.encode('{"email":"","password":""}')),
  );
  assert.is(invalid.code, Code.InvalidArgument);
  assert.ok((invalid.findDetails(BadRequestSchema)[0]?.fieldViolations.length ?? 0) >= 2);
  const badJson = await forwardError(getJwks, new EncodedMessage("json", utf8.encode("{not json")));
  assert.is(badJson.code, Code.InvalidArgument);
  // A key the message does not have is refused by name (platform `requestJsonOptions`).
  const unknownKey = await forwardError(
    getJwks,
    new EncodedMessage("json", utf8.encode('{"unknownField":1}')),
  );
  assert.is(unknownKey.code, Code.InvalidArgument);
  assert.match(unknownKey.rawMessage, /key "unknownField" is unknown/);
  const badBinary = await forwardError(
    getJwks,
    new EncodedMessage("proto", new Uint8Array([0xff, 0xff, 0xff])),
  );
  assert.is(badBinary.code, Code.InvalidArgument);
  assert.is(badBinary.rawMessage, unparsableBinaryMessage);
  // The message connect's own JSON codec gives (connect-node's gRPC and Connect handlers use it).
  const expected = codeOf(
    Promise.resolve().then(() =>
      createMethodSerializationLookup(getJwks, undefined, undefined, {
        readMaxBytes: 1024,
        writeMaxBytes: 1024,
      })
        .getI(false)
        .parse(utf8.encode("{not json")),
    ),
  );
  assert.is(badJson.rawMessage, (await expected).rawMessage);
  assert.match(badJson.rawMessage, /GetJwksRequest from JSON/);
});

test("other protocols still go through connect-node", async ({ server }) => {
  const connect = createClient(
    AuthService,
    createConnectTransport({ baseUrl: server.url, httpVersion: "2" }),
  );
  const res = await connect.getJwks({}, { headers: { "x-value": "via connect" } });
  assert.is(res.keys[0]?.kid, "via connect");
});

test.run();
