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
