/**
 * bench:read's (f): a bare edge in front of the bare gRPC-shaped handler (e), the
 * gateway's shape with none of its work. It takes b's URLs over HTTP/1.1, calls the
 * bare handler over one HTTP/2 connection (one framed protobuf request in, the framed
 * JSON answer out, grpc-status in trailers) and answers that JSON. No token, no
 * validation, no protobuf JSON: f/b is the ceiling any gateway in front of a Node gRPC
 * service can reach for d/b on this machine, and d/f what ClassConnect's gateway and
 * service add to it. It runs with the same fix to Node (node-fixes.ts) as the gateway.
 * Lives only in bench/; started by read-baseline.ts.
 * Usage: read-edge.ts <port> <bare port>
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  GetCourseRequestSchema,
  ListCoursesRequestSchema,
} from "@classconnect/gen/classconnect/courses/v1/course_service_pb.js";
import { envelope, installNodeFixes } from "@classconnect/platform";

const [port, barePort] = process.argv.slice(2) as [string, string];
// As every ClassConnect process runs (runProcess): a fix to Node is not the gateway's work.
installNodeFixes();
const upstream = http2.connect(`http://127.0.0.1:${barePort}`, {
  createConnection: () => net.connect({ host: "127.0.0.1", port: Number(barePort), noDelay: true }),
});
const listRequest = envelope(toBinary(ListCoursesRequestSchema, create(ListCoursesRequestSchema, {})));
const service = "/classconnect.courses.v1.CourseService";

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://edge");
  const id = /^\/courses\/([^/]+)$/.exec(url.pathname)?.[1];
  const stream = upstream.request({
    ":method": "POST",
    ":path": id ? `${service}/GetCourse` : `${service}/ListCourses`,
    "content-type": "application/grpc+proto",
    te: "trailers",
    "x-caller": url.searchParams.get("caller") ?? "",
  });
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  stream.on("end", () => {
    const json = Buffer.concat(chunks).subarray(5);
    res.writeHead(200, { "content-type": "application/json", "content-length": json.length });
    res.end(json);
  });
  stream.end(
    id
      ? envelope(toBinary(GetCourseRequestSchema, create(GetCourseRequestSchema, { courseId: id })))
      : listRequest,
  );
});
server.on("connection", (socket: net.Socket) => socket.setNoDelay(true));
server.listen(Number(port), "127.0.0.1", () => process.stdout.write("ready\n"));
