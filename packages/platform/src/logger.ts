import { pino } from "pino";
import type { LogLevel } from "./config.js";
import { traceIds } from "./telemetry.js";

export type Logger = pino.Logger;

/**
 * Paths whose values never reach a log line: secrets, tokens, passwords and
 * personal data that may appear in logged objects.
 */
const redactPaths = [
  "password",
  "newPassword",
  "token",
  "idToken",
  "accessToken",
  "refreshToken",
  "pin",
  "authorization",
  "email",
  "*.password",
  "*.newPassword",
  "*.token",
  "*.idToken",
  "*.accessToken",
  "*.refreshToken",
  "*.pin",
  "*.authorization",
  "*.email",
  'headers["authorization"]',
  'headers["x-service-token"]',
];

/** A JSON logger (pino) with levels error/warn/info/debug and secret redaction. */
export function createLogger(
  name: string,
  level: LogLevel = "info",
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: name },
    redact: { paths: redactPaths, censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // Trace ids on every line written inside a traced call.
    mixin: traceIds,
  };
  return destination ? pino(options, destination) : pino(options);
}
