/**
 * The lean path's handler context makes its AbortSignal, and its deadline timer, only
 * when someone reads it; a signal read late must say what an early one would have.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createCallContext, LazyAbort } from "../src/call-context.js";

const test = suite("platform: call context");

const context = (timeoutMs?: number) =>
  createCallContext({
    service: AuthService,
    method: AuthService.method.getJwks,
    protocolName: "grpc",
    url: "http://localhost/classconnect.users.v1.AuthService/GetJwks",
    timeoutMs,
    requestHeader: new Headers(),
    contextValues: createContextValues(),
  });
const codeOf = (reason: unknown) => ConnectError.from(reason).code;

test("a signal read early aborts when the call ends, with the call's reason", () => {
  const ctx = context();
  const seen: unknown[] = [];
  ctx.signal.addEventListener("abort", () => seen.push(ctx.signal.reason));
  assert.is(ctx.signal.aborted, false);
  ctx.abort(new ConnectError("done", Code.Canceled));
  assert.is(seen.length, 1);
  assert.is(ConnectError.from(seen[0]).rawMessage, "done");
});

test("a signal first read after the call ended starts out aborted with the first reason", () => {
  const ctx = context();
  ctx.abort(new ConnectError("client went away", Code.Canceled));
  ctx.abort(new ConnectError("done", Code.Canceled));
  assert.is(ctx.signal.aborted, true);
  assert.is(ConnectError.from(ctx.signal.reason).rawMessage, "client went away");
});

test("the deadline aborts with DEADLINE_EXCEEDED, whether the signal was read before or after", async () => {
  const early = context(20);
  const earlySignal = early.signal;
  const late = context(20);
  assert.ok((late.timeoutMs() ?? 0) > 0);
  await sleep(60);
  assert.is(earlySignal.aborted, true);
  assert.is(codeOf(earlySignal.reason), Code.DeadlineExceeded);
  assert.is(late.signal.aborted, true);
  assert.is(codeOf(late.signal.reason), Code.DeadlineExceeded);
  late.abort(new ConnectError("done", Code.Canceled));
  assert.is(codeOf(late.signal.reason), Code.DeadlineExceeded, "the deadline came first");
});

test("a call that ends before its deadline stops the timer and keeps its own reason", async () => {
  const ctx = context(20);
  ctx.abort(new ConnectError("done", Code.Canceled));
  await sleep(40);
  assert.is(ConnectError.from(ctx.signal.reason).rawMessage, "done");
});

test("a deadline costs a timer only once the signal is read, and none after the call ends", () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const before = timers();
  const ctx = context(10_000);
  assert.is(timers(), before, "no timer while no one reads the signal");
  assert.is(ctx.signal.aborted, false);
  assert.is(timers(), before + 1, "the signal's deadline timer");
  ctx.abort(new ConnectError("done", Code.Canceled));
  assert.is(timers(), before);
});

test("a call that ends after its deadline, its signal never read, ends with DEADLINE_EXCEEDED", async () => {
  const ctx = context(10);
  await sleep(30);
  ctx.abort(new ConnectError("done", Code.Canceled));
  assert.is(codeOf(ctx.signal.reason), Code.DeadlineExceeded);
});

test("a deadline of zero or less has passed already", () => {
  assert.is(codeOf(context(0).signal.reason), Code.DeadlineExceeded);
  assert.is(codeOf(context(-5).signal.reason), Code.DeadlineExceeded);
});

test("LazyAbort: no AbortSignal until read; listeners and a late signal get the first reason", () => {
  const cancel = new LazyAbort();
  const heard: unknown[] = [];
  const stop = cancel.onAbort((reason) => heard.push(["kept", reason]));
  const dropped = cancel.onAbort((reason) => heard.push(["dropped", reason]));
  dropped();
  assert.not.ok(cancel.aborted);
  cancel.abort("first");
  cancel.abort("second");
  assert.ok(cancel.aborted);
  assert.is(cancel.reason, "first");
  assert.equal(heard, [["kept", "first"]]);
  assert.not.ok(cancel.signalMade);
  assert.ok(cancel.signal.aborted, "a signal made after the abort starts out aborted");
  assert.is(cancel.signal.reason, "first");
  stop();
  // A listener added after the abort is never called.
  cancel.onAbort(() => heard.push("late"));
  assert.is(heard.length, 1);
});

test("LazyAbort: a signal read early aborts with the reason", () => {
  const cancel = new LazyAbort();
  const signal = cancel.signal;
  assert.ok(cancel.signalMade);
  assert.not.ok(signal.aborted);
  cancel.abort("why");
  assert.ok(signal.aborted);
  assert.is(signal.reason, "why");
});

test.run();
