import { isIPv4, isIPv6 } from "node:net";

/**
 * Whose address a call comes from, for the per-address rate limits. Behind
 * `trustedProxies` proxies that each append the address they saw to
 * X-Forwarded-For, the caller is the entry that many places from the right: the
 * outermost trusted proxy wrote it. Entries further left are the caller's own to
 * write, so trusting them would let anyone pick a fresh address per call.
 */
export function clientAddress(
  forwardedFor: string | string[] | undefined,
  socketAddress: string | undefined,
  trustedProxies: number,
): string {
  if (trustedProxies > 0 && forwardedFor !== undefined) {
    const entries = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor)
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry !== "");
    // Fewer entries than proxies: the farthest one any of them recorded.
    const seen = entries[Math.max(0, entries.length - trustedProxies)];
    if (seen !== undefined) return seen;
  }
  return socketAddress ?? "unknown";
}

/**
 * The rate limits' key for an address: an IPv4 address as it is (also when Node writes it
 * IPv4-mapped, `::ffff:a.b.c.d`), an IPv6 address by its /64 network, the smallest block a
 * single subscriber is usually given: counted per address, one host could take a fresh
 * allowance for every call from its 2^64 addresses. Anything else (a proxy's odd entry) as it is.
 */
export function rateLimitKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address) || !isIPv6(address)) return address;
  const [head = "", tail = ""] = address.toLowerCase().split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  // `::` stands for as many zero groups as the written ones leave out of eight (a trailing
  // dotted IPv4 part is two of them).
  const width = (groups: string[]) => groups.reduce((n, g) => n + (g.includes(".") ? 2 : 1), 0);
  const groups = address.includes("::")
    ? [...left, ...Array<string>(8 - width(left) - width(right)).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}
