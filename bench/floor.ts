/**
 * `npm run bench:floor`: what one extra Node hop costs before any ClassConnect
 * code runs. Three bare processes answer from memory: a plain HTTP/1.1 server,
 * and an "edge" (HTTP/1.1 in, HTTP/2 out, as the gateway) in front of an
 * HTTP/2 "upstream" (as a service, answering with a trailers frame as gRPC
 * does). The same fetch client calls both, with GET and with POST, in rounds.
 * The ratios are the ceiling bench:read's d/b can reach on this machine
 * without a database; with one, both sides get the same extra work and the
 * ratio rises toward 1.
 *
 * Then lone calls (concurrency 1) to the plain server, answered at once or 1 ms
 * later (a timer: the server wakes once more per call, the client sleeps 1 ms
 * longer, nothing else runs meanwhile), with the CPU each process spends per
 * call: the same work, so the difference is what sleeping and waking costs. On
 * a path of several hops every process sleeps while the next one works, so
 * this is what a lone call through more processes pays (bench:read at 1).
 */
import { spawn } from "node:child_process";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { freePort, installNodeFixes } from "@classconnect/platform";
import { cpuSampler } from "./cpu.js";
import { load, machine, table } from "./load.js";

const [role, port, upstreamPort] = process.argv.slice(2);
const json = Buffer.from(
  JSON.stringify({
    course: { id: "698c7c9f-3bce-4953-b8c9-0ffe8ce55498", title: "Course 1", description: "About topic 1" },
  }),
);
const ready = () => process.stdout.write("ready\n");
const answer = (res: http.ServerResponse) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": json.length });
  res.end(json);
};

if (role === "plain") {
  http
    .createServer((req, res) =>
      req.resume().on("end", () => (req.url?.endsWith("?later") ? setTimeout(answer, 1, res) : answer(res))),
    )
    .listen(Number(port), "127.0.0.1", ready);
} else if (role === "upstream") {
  const payload = Buffer.alloc(150, 7);
  const server = http2.createServer((req, res) => {
    req.resume().on("end", () => {
      res.writeHead(200, { "content-type": "application/grpc+proto" });
      res.addTrailers({ "grpc-status": "0" });
      res.end(payload);
    });
  });
  server.on("connection", (socket: net.Socket) => socket.setNoDelay(true));
  server.listen(Number(port), "127.0.0.1", ready);
} else if (role === "edge") {
  // "fixed": as every ClassConnect process runs, with Node 20's AsyncResource#bind fixed.
  if (process.argv[5] === "fixed") installNodeFixes();
  const session = http2.connect(`http://127.0.0.1:${upstreamPort}`, {
    createConnection: () => net.connect({ host: "127.0.0.1", port: Number(upstreamPort), noDelay: true }),
  });
  http
    .createServer((req, res) => {
      const body: Buffer[] = [];
      req.on("data", (c: Buffer) => body.push(c));
      req.on("end", () => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/bench.v1.Floor/Get",
          "content-type": "application/grpc+proto",
          te: "trailers",
          authorization: String(req.headers.authorization ?? ""),
        });
        stream.on("data", () => {});
        stream.on("end", () => answer(res));
        stream.end(Buffer.concat(body));
      });
    })
    .listen(Number(port), "127.0.0.1", ready);
} else {
  const ports = {
    plain: await freePort(),
    edge: await freePort(),
    fixedEdge: await freePort(),
    upstream: await freePort(),
  };
  const start = (name: string, ...args: (number | string)[]) =>
    spawn(process.execPath, ["--import", "tsx", "bench/floor.ts", name, ...args.map(String)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
  const started = (child: ReturnType<typeof start>) =>
    new Promise<ReturnType<typeof start>>((resolve) => child.stdout!.once("data", () => resolve(child)));
  // The edge connects to the upstream as it starts: the upstream listens first.
  const children = [
    await started(start("plain", ports.plain)),
    await started(start("upstream", ports.upstream)),
  ];
  children.push(await started(start("edge", ports.edge, ports.upstream)));
  children.push(await started(start("edge", ports.fixedEdge, ports.upstream, "fixed")));
  const headers = { authorization: `Bearer ${"x".repeat(600)}` };
  const call = (p: number, method: "GET" | "POST") => () =>
    fetch(`http://127.0.0.1:${p}/bench.v1.Floor/Get`, {
      method,
      headers: { ...headers, ...(method === "POST" ? { "content-type": "application/json" } : {}) },
      ...(method === "POST" ? { body: '{"courseId":"698c7c9f-3bce-4953-b8c9-0ffe8ce55498"}' } : {}),
    }).then((r) => r.arrayBuffer());
  const targets = {
    "plain GET": call(ports.plain, "GET"),
    "plain POST": call(ports.plain, "POST"),
    "edge GET": call(ports.edge, "GET"),
    "edge POST": call(ports.edge, "POST"),
    "edge GET, Node's bind fixed": call(ports.fixedEdge, "GET"),
  };
  const rounds: Record<string, number[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
  for (const fn of Object.values(targets)) await load(fn, 8, 1); // warm-up
  for (let round = 0; round < 3; round++) {
    for (const [name, fn] of Object.entries(targets)) rounds[name]!.push((await load(fn, 16, 2)).perSecond);
  }
  const median = (name: string) => [...rounds[name]!].sort((x, y) => x - y)[1]!;
  console.log(
    "\nbench:floor — bare Node processes answering from memory, concurrency 16, median of 3 rounds",
  );
  console.log(machine());
  console.log(
    table(
      ["target", "req/s"],
      Object.keys(targets).map((name) => [name, median(name).toFixed(0)]),
    ),
  );
  console.log(
    table(
      ["ratio", "value"],
      [
        ["edge GET / plain GET (one more hop)", (median("edge GET") / median("plain GET")).toFixed(2)],
        ["edge POST / plain POST", (median("edge POST") / median("plain POST")).toFixed(2)],
        [
          "edge GET with Node's bind fixed / edge GET",
          (median("edge GET, Node's bind fixed") / median("edge GET")).toFixed(2),
        ],
        [
          "plain POST / plain GET (fetch's POST cost)",
          (median("plain POST") / median("plain GET")).toFixed(2),
        ],
        ["edge POST / plain GET", (median("edge POST") / median("plain GET")).toFixed(2)],
      ],
    ),
  );
  const cpu = cpuSampler({ client: process.pid, server: children[0]!.pid! });
  if (cpu) {
    const lone = {
      "at once": () => fetch(`http://127.0.0.1:${ports.plain}/`).then((r) => r.arrayBuffer()),
      "1 ms later": () => fetch(`http://127.0.0.1:${ports.plain}/?later`).then((r) => r.arrayBuffer()),
    };
    const spent = new Map(Object.keys(lone).map((k) => [k, { calls: 0, client: 0, server: 0 }]));
    for (let round = 0; round < 3; round++) {
      for (const [name, fn] of Object.entries(lone)) {
        const before = cpu();
        const { requests } = await load(fn, 1, 2);
        const after = cpu();
        const s = spent.get(name)!;
        s.calls += requests;
        s.client += after.get("client")! - before.get("client")!;
        s.server += after.get("server")! - before.get("server")!;
      }
    }
    const perCall = (name: string, who: "client" | "server") =>
      (spent.get(name)![who] * 1e6) / spent.get(name)!.calls;
    console.log(
      "\nlone calls (concurrency 1) to the plain server, fetch client, 3 rounds of 2 s: CPU per call (/proc, µs)",
    );
    console.log(
      table(
        ["answer", "calls/s", "client CPU", "server CPU"],
        Object.keys(lone).map((name) => [
          name,
          (spent.get(name)!.calls / 6).toFixed(0),
          perCall(name, "client").toFixed(0),
          perCall(name, "server").toFixed(0),
        ]),
      ),
    );
    console.log(
      `a 1 ms sleep per call multiplies the client's CPU per call by ${(perCall("1 ms later", "client") / perCall("at once", "client")).toFixed(2)} and the server's by ${(perCall("1 ms later", "server") / perCall("at once", "server")).toFixed(2)} (the same work: the server wakes once more, at its timer, and the client sleeps 1 ms longer)`,
    );
  }
  for (const child of children) child.kill();
  process.exit(0);
}
