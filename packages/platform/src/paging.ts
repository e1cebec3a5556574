import { InvalidArgumentError } from "./errors.js";

/** The page size to use: the requested one, or `fallback` when 0. Bounds are validated in the contract. */
export function pageSize(requested: number, fallback = 20): number {
  return requested > 0 ? requested : fallback;
}

/** Page tokens are opaque to clients: base64url JSON of the last row's sort key. */
export function encodePageToken(cursor: object | undefined): string {
  return cursor ? Buffer.from(JSON.stringify(cursor)).toString("base64url") : "";
}

export function decodePageToken<T extends object>(
  token: string,
  isValid: (value: unknown) => value is T,
): T | undefined {
  if (!token) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (isValid(value)) return value;
  } catch {}
  throw new InvalidArgumentError([
    {
      field: "page_token",
      description: "the page token is not valid; start again without one",
      reason: "PAGE_TOKEN",
    },
  ]);
}

/** Keyset position: the sort key of a page's last row and its id (the tie-breaker). */
export interface Cursor {
  key: string | number;
  id: string;
}

export interface Page<T> {
  items: T[];
  next?: Cursor;
}

/** Cuts the extra row of a `limit + 1` query into a page and the cursor of the next one. */
export function pageOf<T>(rows: T[], limit: number, cursorOf: (row: T) => Cursor): Page<T> {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, next: cursorOf(items[items.length - 1]!) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function isCursor(v: unknown): v is Cursor {
  const c = v as Cursor;
  return (
    typeof v === "object" &&
    v !== null &&
    (typeof c.key === "string" || typeof c.key === "number") &&
    typeof c.id === "string" &&
    UUID.test(c.id)
  );
}

/** The cursor in a request's page token (INVALID_ARGUMENT when forged). */
export const readCursor = (token: string): Cursor | undefined => decodePageToken(token, isCursor);

/** The page token of the next page ("" on the last page). */
export const writeCursor = (cursor: Cursor | undefined): string => encodePageToken(cursor);
