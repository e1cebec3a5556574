/**
 * OpenTelemetry for every process: traces exported over OTLP when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set (W3C context propagated across
 * gateway → service → service by Connect interceptors, since HTTP/2 servers
 * are not auto-instrumented), and RED metrics per RPC on a Prometheus /metrics
 * endpoint when METRICS_PORT is set. With neither, no per-call work at all.
 * Attributes carry method names and codes only, never personal data.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import {
  type Attributes,
  context,
  metrics,
  propagation,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BatchSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";

const headersGetter: TextMapGetter<Headers> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  keys: (carrier) => [...carrier.keys()],
};
const headersSetter: TextMapSetter<Headers> = { set: (carrier, key, value) => carrier.set(key, value) };

const tracer = () => trace.getTracer("classconnect");

/** Request count, errors by code, and duration, per RPC; created on first use against the global meter. */
let instruments:
  | {
      requests: ReturnType<ReturnType<typeof metrics.getMeter>["createCounter"]>;
      duration: ReturnType<ReturnType<typeof metrics.getMeter>["createHistogram"]>;
    }
  | undefined;
function rpcInstruments() {
  if (!instruments) {
    const meter = metrics.getMeter("classconnect");
    instruments = {
      requests: meter.createCounter("rpc_server_requests", {
        description: "RPCs handled, by service, method and code",
      }),
      duration: meter.createHistogram("rpc_server_duration", { description: "RPC duration", unit: "ms" }),
    };
  }
  return instruments;
}

/**
 * What initTelemetry switched on, read per call: with neither, the
 * interceptors and the query wrapper step aside, so a process that exports
 * nothing pays nothing per call (no span objects, no context switches, no
 * AsyncLocalStorage promise hooks).
 */
const enabled = { tracing: false, metrics: false };

/**
 * Server side: continues the caller's trace (traceparent), opens a SERVER span
 * around the call, and records the RED metrics. Outermost interceptor.
 */
export function createServerTelemetryInterceptor(component: string): Interceptor {
  return (next) => (req) => (enabled.tracing || enabled.metrics ? observe(next, req, component) : next(req));
}

async function observe<R extends UnaryRequest | StreamRequest>(
  next: (req: R) => Promise<UnaryResponse | StreamResponse>,
  req: R,
  component: string,
) {
  const span = enabled.tracing ? startServerSpan(req, component) : undefined;
  const started = performance.now();
  let code = "ok";
  try {
    return await (span ? context.with(span.context, () => next(req)) : next(req));
  } catch (err) {
    code = Code[ConnectError.from(err).code] ?? "unknown";
    span?.span.setStatus({ code: SpanStatusCode.ERROR, message: code });
    throw err;
  } finally {
    span?.span.setAttribute("rpc.connect_rpc.error_code", code);
    span?.span.end();
    if (enabled.metrics) {
      const labels = { service: req.service.typeName, method: req.method.name, code, component };
      const m = rpcInstruments();
      m.requests.add(1, labels);
      m.duration.record(performance.now() - started, labels);
    }
  }
}

function startServerSpan(req: UnaryRequest | StreamRequest, component: string) {
  const parent = propagation.extract(context.active(), req.header, headersGetter);
  const attributes: Attributes = {
    "rpc.system": "connect_rpc",
    "rpc.service": req.service.typeName,
    "rpc.method": req.method.name,
    "classconnect.component": component,
  };
  const span = tracer().startSpan(
    `${req.service.typeName}/${req.method.name}`,
    { kind: SpanKind.SERVER, attributes },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}

/** Client side: a CLIENT span per outgoing call, its context injected as traceparent. */
export function createClientTelemetryInterceptor(component: string): Interceptor {
  return (next) => (req) => (enabled.tracing ? traceCall(next, req, component) : next(req));
}

async function traceCall<R extends UnaryRequest | StreamRequest>(
  next: (req: R) => Promise<UnaryResponse | StreamResponse>,
  req: R,
  component: string,
) {
  const span = tracer().startSpan(`${req.service.typeName}/${req.method.name}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      "rpc.system": "connect_rpc",
      "rpc.service": req.service.typeName,
      "rpc.method": req.method.name,
      "classconnect.component": component,
    },
  });
  const ctx = trace.setSpan(context.active(), span);
  propagation.inject(ctx, req.header, headersSetter);
  try {
    return await context.with(ctx, () => next(req));
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: Code[ConnectError.from(err).code] });
    throw err;
  } finally {
    span.end();
  }
}

/** One reading of a gauge: a value, and the attributes that tell it from the gauge's others. */
export interface GaugeReading {
  value: number;
  attributes?: Attributes;
}

const gauges = new Map<string, ReturnType<ReturnType<typeof metrics.getMeter>["createObservableGauge"]>>();

/**
 * A gauge read only when metrics are scraped (with METRICS_PORT unset, never): `read` gives
 * its current values, e.g. a count from the database. A failed read leaves the gauge out of
 * that scrape. Returns what stops the observing (for a component that stops).
 */
export function observeGauge(
  name: string,
  description: string,
  read: () => Promise<GaugeReading[]>,
): () => void {
  if (!enabled.metrics) return () => {};
  let gauge = gauges.get(name);
  if (!gauge) {
    gauge = metrics.getMeter("classconnect").createObservableGauge(name, { description });
    gauges.set(name, gauge);
  }
  const callback = async (result: { observe(value: number, attributes?: Attributes): void }) => {
    try {
      for (const r of await read()) result.observe(r.value, r.attributes);
    } catch {
      // Nothing to report this time (the database may be restarting); the next scrape tries again.
    }
  };
  gauge.addCallback(callback);
  return () => gauge.removeCallback(callback);
}

/**
 * Gauges read together: `read` runs once per scrape (at most once a second), and each gauge
 * takes its values from that one reading. Returns what stops them all.
 */
export function observeGauges<T>(
  read: () => Promise<T>,
  gauges: { name: string; description: string; values(reading: T): GaugeReading[] }[],
): () => void {
  let last: { at: number; reading: Promise<T> } | undefined;
  const reading = () => {
    if (!last || Date.now() - last.at > 1000) last = { at: Date.now(), reading: read() };
    return last.reading;
  };
  const stops = gauges.map((g) => observeGauge(g.name, g.description, async () => g.values(await reading())));
  return () => {
    for (const stop of stops) stop();
  };
}

/** The active trace and span ids, for log lines. */
export function traceIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

const traceparent = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-[\da-f]{2}/;

/**
 * For a call's log lines when no span is active (tracing off): the trace id
 * and the caller's span id from the W3C `traceparent` the caller sent, so a
 * service's error lines still join the caller's trace. Read only when a line
 * is written: it costs nothing per call.
 */
export function callerTraceIds(header: Headers): { trace_id?: string; parent_span_id?: string } {
  if (trace.getActiveSpan()) return {};
  const m = traceparent.exec(header.get("traceparent") ?? "");
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return {};
  return { trace_id: m[1]!, parent_span_id: m[2]! };
}

/**
 * Wraps a postgres.js `sql` so that every executed query is a CLIENT span
 * (the statement, never its parameters). Fragments are not spans: a query
 * runs, and is timed, only when awaited, which is when its `then` is called.
 */
export function traceQueries<T extends object>(sql: T): T {
  const wrap = (query: unknown) => {
    // Untraced queries stay as the driver made them: a `then` closure of their own would
    // keep each one, with its rows, past young-generation collections (bench/README.md, Garbage).
    if (!enabled.tracing || !query || typeof (query as { then?: unknown }).then !== "function") {
      return query;
    }
    const q = query as { then: (...args: unknown[]) => unknown; strings?: readonly string[] };
    const then = q.then.bind(q);
    // biome-ignore lint/suspicious/noThenProperty: the query is a thenable already; this times its execution.
    q.then = (onFulfilled?: unknown, onRejected?: unknown) => {
      const statement = (q.strings ?? []).join("?").replace(/\s+/g, " ").trim().slice(0, 300);
      const span = tracer().startSpan("postgresql", {
        kind: SpanKind.CLIENT,
        attributes: { "db.system": "postgresql", "db.statement": statement },
      });
      return then(
        (value: unknown) => {
          span.end();
          return typeof onFulfilled === "function" ? onFulfilled(value) : value;
        },
        (err: unknown) => {
          span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
          if (typeof onRejected === "function") return onRejected(err);
          throw err;
        },
      );
    };
    return query;
  };
  const traced = (target: object): object =>
    new Proxy(target, {
      apply: (fn, self, args) => wrap(Reflect.apply(fn as (...a: unknown[]) => unknown, self, args)),
      get(obj, key, receiver) {
        const value = Reflect.get(obj, key, receiver);
        // Transactions run on reserved connections: trace those too.
        if (key === "reserve" && typeof value === "function") {
          return async (...args: unknown[]) =>
            traced(await (value as (...a: unknown[]) => Promise<object>).apply(obj, args));
        }
        if (key === "unsafe" && typeof value === "function") {
          return (...args: unknown[]) => wrap((value as (...a: unknown[]) => unknown).apply(obj, args));
        }
        return value;
      },
    });
  return traced(sql) as T;
}

export interface Telemetry {
  /** The Prometheus endpoint's port, when one was started. */
  metricsPort?: number;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Installs the process-wide providers: traces to OTLP/HTTP when `otlpEndpoint`
 * is set, metrics on a Prometheus endpoint when `metricsPort` is set (0 picks
 * a free port). Without either, the interceptors and query wrapper step aside.
 */
export async function initTelemetry(options: {
  serviceName: string;
  otlpEndpoint?: string;
  metricsPort?: number;
}): Promise<Telemetry> {
  const resource = resourceFromAttributes({
    "service.name": options.serviceName,
    "service.namespace": "classconnect",
  });
  const tracerProvider = options.otlpEndpoint
    ? new TracerProvider({
        resource,
        spanProcessors: [
          new BatchSpanProcessor({
            exporter: new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, "")}/v1/traces` }),
            scheduledDelayMillis: 1000,
          }),
        ],
      })
    : undefined;
  if (tracerProvider) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(tracerProvider);
    enabled.tracing = true;
  }
  let server: Server | undefined;
  let meterProvider: MeterProvider | undefined;
  let metricsPort: number | undefined;
  if (options.metricsPort !== undefined) {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    meterProvider = new MeterProvider({ resource, readers: [exporter] });
    metrics.setGlobalMeterProvider(meterProvider);
    instruments = undefined;
    gauges.clear();
    enabled.metrics = true;
    server = createServer((req, res) => {
      if (req.url?.startsWith("/metrics")) exporter.getMetricsRequestHandler(req, res);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server!.listen(options.metricsPort, "0.0.0.0", resolve));
    metricsPort = (server.address() as AddressInfo).port;
  }
  return {
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    forceFlush: async () => {
      await tracerProvider?.forceFlush();
    },
    async shutdown() {
      await tracerProvider?.shutdown();
      await meterProvider?.shutdown();
      if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
      instruments = undefined;
      gauges.clear();
      enabled.tracing = false;
      enabled.metrics = false;
    },
  };
}
