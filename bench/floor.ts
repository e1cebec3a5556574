/**
 * `npm run bench:floor`: what one extra Node hop costs before any ClassConnect
 * code runs. Three bare processes answer from memory: a plain HTTP/1.1 server,
 * and an "edge" (HTTP/1.1 in, HTTP/2 out, as the gateway) in front of an
 * HTTP/2 "upstream" (as a service, answering with a trailers frame as gRPC
 * does). The same fetch client calls both, with GET and with POST, in rounds.
 * The ratios are the ceiling bench:read's d/b can reach on this machine
 * without a database; with one, both sides get the same extra work and the
 * ratio rises toward 1.
 */
import { spawn } from "node:child_process";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { freePort } from "@classconnect/platform";
import { load, table } from "./load.js";

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
    .createServer((req, res) => req.resume().on("end", () => answer(res)))
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
  const ports = { plain: await freePort(), edge: await freePort(), upstream: await freePort() };
  const start = (name: string, ...args: number[]) =>
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
          "plain POST / plain GET (fetch's POST cost)",
          (median("plain POST") / median("plain GET")).toFixed(2),
        ],
        ["edge POST / plain GET", (median("edge POST") / median("plain GET")).toFixed(2)],
      ],
    ),
  );
  for (const child of children) child.kill();
  process.exit(0);
}
