import { createHash } from "node:crypto";
import { InvalidArgumentError } from "./errors.js";

/** The page size to use: the requested one, or `fallback` when 0. Bounds are validated in the contract. */
export function pageSize(requested: number, fallback = 20): number {
  return requested > 0 ? requested : fallback;
}

/**
 * The longest page token any list writes, and the longest every list request's `page_token`
 * takes (its `max_len` in the contract): room for a cursor whose key is a 201-character text
 * (a full name, a course title) of characters as long as JSON writes any (`\u0001`, six bytes).
 */
export const MAX_PAGE_TOKEN_LENGTH = 2048;

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
const ISO_TIME = /^[1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Whether `k` is a time as `Date#toISOString` writes it (every time cursor is written so),
 * years 1000–9999: a day or hour out of range, or a year the database has not, is refused.
 */
export const isTimeKey = (k: unknown): k is string => {
  if (typeof k !== "string" || !ISO_TIME.test(k)) return false;
  const t = new Date(k);
  return !Number.isNaN(t.getTime()) && t.toISOString() === k;
};

/**
 * The type a list's sort key must have before a query sees it: a time (ISO, as
 * `toISOString` writes it), any text, a safe integer, no key at all (lists ordered by id
 * alone), or a check of the list's own.
 */
export type SortKey = "time" | "text" | "integer" | "none" | ((key: unknown) => boolean);

const sortKeyChecks: Record<Exclude<SortKey, (key: unknown) => boolean>, (key: unknown) => boolean> = {
  time: isTimeKey,
  // A NUL is the one character PostgreSQL's text cannot hold.
  text: (k) => typeof k === "string" && k.length <= 1000 && !k.includes("\0"),
  integer: (k) => Number.isSafeInteger(k),
  none: (k) => k === "",
};

/** A list request: its filters, the page token it carries and the page size it asks for. */
export type ListRequest = { pageToken: string };

/** Page tokens of one list, as `pageTokens` makes them. */
export interface PageTokens {
  /**
   * The cursor in `request`'s page token; INVALID_ARGUMENT when forged, from another list, or
   * from the same list asked with other filters.
   */
  read(request: ListRequest): Cursor | undefined;
  /** The page token of the page after `request`'s ("" on the last page). */
  write(cursor: Cursor | undefined, request: ListRequest): string;
}

/** JSON with its object keys sorted, bigints as strings and bytes as base64: one text per value. */
function canonical(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === "object") {
    const entries = Object.entries(value).filter(([k]) => k !== "$typeName");
    return Object.fromEntries(
      entries.sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

/**
 * What a page token binds a request to: a digest of every field but the token and the page
 * size (a client may change the size between pages; AIP-158), so that the next page is of
 * the same query, never of another one that the cursor would skip into.
 */
function queryOf(request: ListRequest): string {
  const { pageToken: _token, pageSize: _size, ...query } = request as ListRequest & { pageSize?: number };
  return createHash("sha256")
    .update(JSON.stringify(canonical(query)))
    .digest("base64url")
    .slice(0, 16);
}

/**
 * The page tokens of the list named `list` (one name per endpoint and sort order). A token
 * carries its list's name, so a token from another list (another method, or the same one
 * sorted otherwise) is refused instead of reaching a query with a key of the wrong type;
 * so is a token whose key is not of the list's `key` type or whose id is not a UUID, and one
 * brought back with other filters than the request it came from (`queryOf`).
 */
export function pageTokens(list: string, key: SortKey): PageTokens {
  const keyOk = typeof key === "function" ? key : sortKeyChecks[key];
  const isCursor = (v: unknown): v is Cursor & { list: string; query: string } => {
    const c = v as Cursor & { list: string; query: string };
    return (
      typeof v === "object" &&
      v !== null &&
      c.list === list &&
      typeof c.query === "string" &&
      keyOk(c.key) &&
      typeof c.id === "string" &&
      UUID.test(c.id)
    );
  };
  return {
    read(request) {
      const c = decodePageToken(request.pageToken, isCursor);
      if (!c) return undefined;
      if (c.query !== queryOf(request)) {
        throw new InvalidArgumentError([
          {
            field: "page_token",
            description: "the page token is for the same list with other filters; start again without one",
            reason: "PAGE_TOKEN",
          },
        ]);
      }
      return { key: c.key, id: c.id };
    },
    write(cursor, request) {
      const token = encodePageToken(
        cursor && { list, query: queryOf(request), key: cursor.key, id: cursor.id },
      );
      // A token the contract would refuse must never be handed out: that is a list whose keys outgrew it.
      if (token.length > MAX_PAGE_TOKEN_LENGTH) {
        throw new Error(`${list}: a page token of ${token.length} characters, over ${MAX_PAGE_TOKEN_LENGTH}`);
      }
      return token;
    },
  };
}
