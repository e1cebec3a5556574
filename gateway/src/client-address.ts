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
