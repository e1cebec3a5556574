/**
 * Typed environment reading. Each service's `config.ts` describes its settings
 * with these readers and calls `loadConfig` once; every problem is reported
 * together, and the process refuses to start rather than run misconfigured.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

export interface EnvReader {
  /** A string; `fallback` when unset. Without a fallback the variable is required. */
  string(name: string, fallback?: string): string;
  /** An optional string: undefined when unset or empty. */
  optional(name: string): string | undefined;
  /** An integer within [min, max]. */
  int(name: string, fallback: number, min?: number, max?: number): number;
  /** true/false/1/0. */
  bool(name: string, fallback: boolean): boolean;
  /** One of the listed values. */
  oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T;
  /**
   * Required when NODE_ENV is `production` (NODE_ENV: development, test or production; default
   * development), optional otherwise: what a local run can do without (keys, providers).
   */
  requiredInProduction(name: string): string | undefined;
}

export function loadConfig<T>(build: (env: EnvReader) => T, env: Env = process.env): T {
  const problems: string[] = [];
  const raw = (name: string) => {
    const value = env[name];
    return value === undefined || value === "" ? undefined : value;
  };
  const reader: EnvReader = {
    string(name, fallback) {
      const value = raw(name) ?? fallback;
      if (value === undefined) {
        problems.push(`${name} is required`);
        return "";
      }
      return value;
    },
    optional: raw,
    int(name, fallback, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
      const value = raw(name);
      if (value === undefined) return fallback;
      const n = Number(value);
      if (!Number.isInteger(n) || n < min || n > max) {
        problems.push(`${name} must be an integer between ${min} and ${max}, got "${value}"`);
        return fallback;
      }
      return n;
    },
    bool(name, fallback) {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (value === "true" || value === "1") return true;
      if (value === "false" || value === "0") return false;
      problems.push(`${name} must be true or false, got "${value}"`);
      return fallback;
    },
    oneOf(name, values, fallback) {
      const value = raw(name);
      if (value === undefined) return fallback;
      if (!(values as readonly string[]).includes(value)) {
        problems.push(`${name} must be one of ${values.join(", ")}, got "${value}"`);
        return fallback;
      }
      return value as (typeof values)[number];
    },
    requiredInProduction(name) {
      // NODE_ENV read once, so that a bad value is reported once.
      production ??=
        reader.oneOf("NODE_ENV", ["development", "test", "production"], "development") === "production";
      return production ? reader.string(name) : reader.optional(name);
    },
  };
  let production: boolean | undefined;
  const config = build(reader);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

export const logLevels = ["error", "warn", "info", "debug"] as const;
export type LogLevel = (typeof logLevels)[number];
