/**
 * Refresh tokens name their session and generation, sealed with an HMAC under a server key.
 *
 * A session keeps only its current generation. Each refresh moves it one on, so a token of
 * an earlier generation is recognised as spent for as long as the session lives (re-use ends
 * the session), without a row per refresh. Nothing in the database can be turned into a
 * token, and a token that was not issued here fails its MAC before any query.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export interface RefreshTokenClaims {
  sessionId: string;
  generation: number;
}

export interface RefreshTokenCodec {
  issue(claims: RefreshTokenClaims): string;
  /** The claims of a token issued with this key; undefined for anything else. */
  read(token: string): RefreshTokenClaims | undefined;
}

/** Version byte, session UUID, generation (uint32), HMAC-SHA256: 53 bytes, 71 base64url characters. */
const VERSION = 1;
const BODY = 1 + 16 + 4;
const LENGTH = BODY + 32;

export function createRefreshTokenCodec(key: Buffer): RefreshTokenCodec {
  const mac = (body: Buffer) => createHmac("sha256", key).update(body).digest();
  return {
    issue({ sessionId, generation }) {
      const body = Buffer.alloc(BODY);
      body[0] = VERSION;
      Buffer.from(sessionId.replaceAll("-", ""), "hex").copy(body, 1);
      body.writeUInt32BE(generation, 17);
      return Buffer.concat([body, mac(body)]).toString("base64url");
    },
    read(token) {
      const bytes = Buffer.from(token, "base64url");
      if (bytes.length !== LENGTH || bytes[0] !== VERSION || bytes.toString("base64url") !== token) {
        return undefined;
      }
      const body = bytes.subarray(0, BODY);
      if (!timingSafeEqual(bytes.subarray(BODY), mac(body))) return undefined;
      const hex = body.subarray(1, 17).toString("hex");
      return {
        sessionId: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
        generation: body.readUInt32BE(17),
      };
    },
  };
}
