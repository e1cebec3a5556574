/** Shared shapes of the backoffice's figures: counts as int64 fields, periods as Timestamps. */
import { type Timestamp, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Period } from "@classconnect/gen/classconnect/common/v1/period_pb.js";

/** Counts as protobuf int64 fields (bigint in protobuf-es). */
export function int64Counts<K extends string>(counts: Record<K, number>): Record<K, bigint> {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, BigInt(v as number)])) as Record<
    K,
    bigint
  >;
}

/** A validated request's period (both ends are required by its contract). */
export function periodDates(period: Period | undefined): { from: Date; to: Date } {
  return { from: timestampDate(period!.fromTime!), to: timestampDate(period!.toTime!) };
}

/** A period for a request. */
export function periodOf(from: Date, to: Date): { fromTime: Timestamp; toTime: Timestamp } {
  return { fromTime: timestampFromDate(from), toTime: timestampFromDate(to) };
}
