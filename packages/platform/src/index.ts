export * from "./access.js";
export * from "./auth-interceptor.js";
export * from "./blob-store.js";
export { callAbortKey, LazyAbort, withLazySignal } from "./call-context.js";
export * from "./change-signal.js";
export * from "./client.js";
export * from "./config.js";
export * from "./db.js";
export * from "./embedded-postgres.js";
export * from "./error-interceptor.js";
export * from "./errors.js";
export * from "./figures.js";
export * from "./files.js";
export * from "./grpc-client.js";
export {
  EncodedMessage,
  envelope,
  headersFrom,
  recordOf,
  requestJsonOptions,
  unparsableBinaryMessage,
  withInterceptors,
} from "./grpc-wire.js";
export * from "./health.js";
export * from "./http2-limits.js";
export * from "./identity.js";
export * from "./images.js";
export * from "./logger.js";
export * from "./login-guard.js";
export * from "./node-fixes.js";
export * from "./outbox.js";
export * from "./paging.js";
export * from "./revoked-sessions.js";
export * from "./secrets.js";
export * from "./server.js";
export * from "./service.js";
export * from "./telemetry.js";
export * from "./tokens.js";
export * from "./update-mask.js";
export * from "./validation-interceptor.js";
export * from "./worker-loop.js";
