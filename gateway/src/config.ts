import { ConfigError, type EnvReader, type LogLevel, loadConfig, logLevels } from "@classconnect/platform";

export interface GatewayConfig {
  host: string;
  port: number;
  logLevel: LogLevel;
  upstreams: { users: string; courses: string; notifications: string; admin: string };
  /** Allowed browser origins; "*" allows any. */
  corsOrigins: string[];
  /** Largest request body accepted (bytes). */
  maxRequestBytes: number;
  /** Deadline for calls that bring none, and the cap for those that do (ms). */
  upstreamTimeoutMs: number;
  /** An HTTP/1.1 client must send a request's headers within this (ms), or gets 408 (slow clients). */
  headersTimeoutMs: number;
  /** A client must send a whole request within this (ms), or gets 408 (HTTP/1.1 and HTTP/2). */
  requestTimeoutMs: number;
  /** A connection with no request in progress is closed after this (ms; HTTP/1.1 and HTTP/2). */
  keepAliveTimeoutMs: number;
  /** Login-type calls allowed per client address per minute. */
  authRateLimitPerMinute: number;
  /**
   * How many proxies in front of the gateway append the address they saw to
   * X-Forwarded-For; the client address is read from there (client-address.ts).
   * 0: the connection's own address, X-Forwarded-For ignored.
   */
  trustedProxies: number;
  /** Serve /blobs/* from this directory (local runs, where services store files on disk). */
  blobDir: string | undefined;
  /** The services' BLOB_SIGNING_KEY: /blobs/ serves private files only through read URLs signed with it. */
  blobSigningKey: string | undefined;
  /** OTLP/HTTP endpoint for traces; unset disables export. */
  otlpEndpoint: string | undefined;
  /** Port of the Prometheus /metrics endpoint; unset disables it. */
  metricsPort: number | undefined;
  /**
   * Serve TLS (h2 and http/1.1 by ALPN) with this PEM certificate chain and key, read
   * again when they change (checked every `reloadCheckMs`); unset: cleartext (HTTP/1.1
   * and h2c), for local runs and behind a proxy that terminates TLS.
   */
  tls: { certFile: string; keyFile: string; reloadCheckMs: number } | undefined;
}

/** TRUST_PROXY: a count of proxies; "true" (one) and "false" (none) read as they did when it was a switch. */
function trustedProxies(e: EnvReader): number {
  const value = e.optional("TRUST_PROXY")?.toLowerCase();
  if (value === "true") return 1;
  if (value === "false") return 0;
  return e.int("TRUST_PROXY", 0, 0, 10);
}

/** GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE: both (TLS) or neither (cleartext). */
function tlsFiles(e: EnvReader): GatewayConfig["tls"] {
  const reloadCheckMs = e.int("GATEWAY_TLS_RELOAD_CHECK_MS", 60_000, 100, 3_600_000);
  if (!e.optional("GATEWAY_TLS_CERT_FILE") && !e.optional("GATEWAY_TLS_KEY_FILE")) return undefined;
  // Either one makes the other required.
  return {
    certFile: e.string("GATEWAY_TLS_CERT_FILE"),
    keyFile: e.string("GATEWAY_TLS_KEY_FILE"),
    reloadCheckMs,
  };
}

/** The only place the gateway reads the environment. */
export function readGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const config = loadConfig(
    (e) => ({
      host: e.string("GATEWAY_HOST", "127.0.0.1"),
      port: e.int("GATEWAY_PORT", 8080, 0, 65535),
      logLevel: e.oneOf("LOG_LEVEL", logLevels, "info"),
      upstreams: {
        users: e.string("USERS_SERVICE_URL", "http://127.0.0.1:5051"),
        courses: e.string("COURSES_SERVICE_URL", "http://127.0.0.1:5052"),
        notifications: e.string("NOTIFICATIONS_SERVICE_URL", "http://127.0.0.1:5053"),
        admin: e.string("ADMIN_SERVICE_URL", "http://127.0.0.1:5054"),
      },
      corsOrigins: e
        .string("CORS_ORIGINS", "*")
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean),
      maxRequestBytes: e.int("MAX_REQUEST_BYTES", 16 * 1024 * 1024, 1024, 64 * 1024 * 1024),
      upstreamTimeoutMs: e.int("UPSTREAM_TIMEOUT_MS", 15_000, 100, 300_000),
      headersTimeoutMs: e.int("HEADERS_TIMEOUT_MS", 60_000, 100, 600_000),
      requestTimeoutMs: e.int("REQUEST_TIMEOUT_MS", 300_000, 100, 3_600_000),
      keepAliveTimeoutMs: e.int("KEEP_ALIVE_TIMEOUT_MS", 65_000, 100, 600_000),
      authRateLimitPerMinute: e.int("AUTH_RATE_LIMIT_PER_MINUTE", 20, 1, 100_000),
      trustedProxies: trustedProxies(e),
      blobDir: e.optional("BLOB_DIR"),
      blobSigningKey: e.optional("BLOB_SIGNING_KEY"),
      otlpEndpoint: e.optional("OTEL_EXPORTER_OTLP_ENDPOINT"),
      metricsPort: e.optional("METRICS_PORT") === undefined ? undefined : e.int("METRICS_PORT", 0, 0, 65535),
      tls: tlsFiles(e),
    }),
    env,
  );
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    // node:http refuses it too: the headers are part of the request.
    throw new ConfigError([
      `HEADERS_TIMEOUT_MS (${config.headersTimeoutMs}) must not exceed REQUEST_TIMEOUT_MS (${config.requestTimeoutMs})`,
    ]);
  }
  return config;
}
