import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { InvalidArgumentError } from "./errors.js";

/**
 * The paths of an update mask, each one of `allowed` exactly, at least one, each once.
 * protovalidate's `field_mask.in` lets sub-paths (`title.x`) through, which no update
 * here names, so every masked update reads its paths through this.
 */
export function maskPaths(paths: readonly string[] | undefined, allowed: readonly string[]): string[] {
  const unknown = (paths ?? []).filter((path) => !allowed.includes(path));
  if (unknown.length > 0 || !paths?.length) {
    const description = unknown.length
      ? `unknown or read-only fields: ${unknown.join(", ")}`
      : "name at least one field to change";
    throw new InvalidArgumentError([{ field: "update_mask", description }]);
  }
  return [...new Set(paths)];
}

/**
 * The fields of `source` that an update mask names: `names` maps each path the update
 * accepts to its field. The paths are checked as `maskPaths` does.
 */
export function maskedFields<T extends object>(
  source: T,
  paths: readonly string[] | undefined,
  names: Readonly<Record<string, keyof T>>,
): Partial<T> {
  const out: Partial<T> = {};
  for (const path of maskPaths(paths, Object.keys(names))) {
    const key = names[path]!;
    out[key] = source[key];
  }
  return out;
}

/**
 * A Timestamp field read into a record's `Date`. An absent one, which a mask that names the
 * field without a value means to clear, becomes an invalid Date rather than 1970: written
 * back with `timestampOrUnset`, the merged message fails its `required` rule, so an update
 * can never move a date to the epoch by leaving it out.
 */
export function dateOrUnset(t: Timestamp | undefined): Date {
  return t ? timestampDate(t) : new Date(Number.NaN);
}

/** The Timestamp of a `dateOrUnset` Date: none for a cleared field. */
export function timestampOrUnset(d: Date, toTimestamp: (d: Date) => Timestamp = timestampFromDate) {
  return Number.isNaN(d.getTime()) ? undefined : toTimestamp(d);
}
