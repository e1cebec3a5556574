/** Whose address a call counts against in the rate limits, and how TRUST_PROXY reads. */
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { clientAddress, rateLimitKey } from "../src/client-address.js";
import { readGatewayConfig } from "../src/index.js";

const test = suite("gateway: the client address");

test("with no trusted proxy, X-Forwarded-For is ignored", () => {
  assert.is(clientAddress("203.0.113.9", "198.51.100.1", 0), "198.51.100.1");
  assert.is(clientAddress(undefined, undefined, 0), "unknown");
});

test("behind one proxy, the entry it appended counts, not the caller's own entries to its left", () => {
  assert.is(clientAddress("203.0.113.9", "10.0.0.2", 1), "203.0.113.9");
  assert.is(clientAddress("1.2.3.4, 5.6.7.8 ,203.0.113.9", "10.0.0.2", 1), "203.0.113.9");
  // Node joins repeated headers; HTTP/2 may hand them over as a list.
  assert.is(clientAddress(["1.2.3.4", "203.0.113.9"], "10.0.0.2", 1), "203.0.113.9");
});

test("behind two proxies, the entry the outer one appended counts", () => {
  assert.is(clientAddress("1.2.3.4, 203.0.113.9, 10.0.0.7", "10.0.0.2", 2), "203.0.113.9");
  // Fewer entries than proxies: the farthest one recorded.
  assert.is(clientAddress("203.0.113.9", "10.0.0.2", 2), "203.0.113.9");
});

test("a trusted proxy that sent no or an empty X-Forwarded-For leaves the connection's address", () => {
  assert.is(clientAddress(undefined, "10.0.0.2", 1), "10.0.0.2");
  assert.is(clientAddress(" , ", "10.0.0.2", 1), "10.0.0.2");
});

test("the rate limits count IPv4 per address and IPv6 per /64, however the address is written", () => {
  assert.is(rateLimitKey("203.0.113.9"), "203.0.113.9");
  assert.is(rateLimitKey("::ffff:203.0.113.9"), "203.0.113.9");
  const one = [
    "2001:db8:1:2:3:4:5:6",
    "2001:0DB8:0001:0002:ffff:ffff:ffff:ffff",
    "2001:db8:1:2::9",
    "2001:db8:1:2::",
    "2001:db8:1:2:3:4:1.2.3.4",
  ].map(rateLimitKey);
  assert.equal(new Set(one), new Set(["2001:db8:1:2::/64"]));
  assert.is.not(rateLimitKey("2001:db8:1:3::1"), rateLimitKey("2001:db8:1:2::1"));
  assert.is(rateLimitKey("1::2:3:4:5:1.2.3.4"), "1:0:2:3::/64");
  assert.is(rateLimitKey("::1"), "0:0:0:0::/64");
  // Not an address (a proxy's odd entry): its own key.
  assert.is(rateLimitKey("unknown"), "unknown");
});

test("TRUST_PROXY is a count of proxies; true and false read as one and none; anything else is refused", () => {
  assert.is(readGatewayConfig({}).trustedProxies, 0);
  assert.is(readGatewayConfig({ TRUST_PROXY: "false" }).trustedProxies, 0);
  assert.is(readGatewayConfig({ TRUST_PROXY: "TRUE" }).trustedProxies, 1);
  assert.is(readGatewayConfig({ TRUST_PROXY: "2" }).trustedProxies, 2);
  assert.throws(
    () => readGatewayConfig({ TRUST_PROXY: "yes" }),
    /TRUST_PROXY must be an integer between 0 and 10/,
  );
  assert.throws(() => readGatewayConfig({ TRUST_PROXY: "-1" }), /TRUST_PROXY/);
  assert.throws(() => readGatewayConfig({ TRUST_PROXY: "11" }), /TRUST_PROXY/);
});

test.run();
