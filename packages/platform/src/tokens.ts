/**
 * Access tokens: short-lived EdDSA (Ed25519) JWTs. An issuing service (users,
 * admin) holds a signing key; everyone else verifies against its JWKS, fetched
 * over gRPC, cached, and refreshed when a token names an unknown key id.
 */
import { hkdfSync, randomUUID } from "node:crypto";
import {
  type CryptoKey,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  jwtVerify,
  SignJWT,
} from "jose";
import { UnauthenticatedError } from "./errors.js";

export const TOKEN_ALG = "EdDSA";
export const TOKEN_AUDIENCE = "classconnect";
export const USER_TOKEN_ISSUER = "classconnect-users";
export const ADMIN_TOKEN_ISSUER = "classconnect-admin";

export type TokenType = "user" | "admin";

/** The public part of a signing key, as served by GetJwks. */
export interface PublicJwk {
  kty: string;
  crv: string;
  x: string;
  kid: string;
  alg: string;
  use: string;
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: PublicJwk;
  /**
   * A 256-bit key for `purpose` (e.g. MACs on refresh tokens), derived from the private key
   * with HKDF-SHA256: no second secret to deploy, and a new signing key replaces it too.
   */
  deriveKey(purpose: string): Buffer;
}

/**
 * Loads the signing key from a private JWK (JSON, e.g. from a Kubernetes Secret) or,
 * without one, generates a fresh key (fine for one local process; tokens then die
 * with it).
 */
export async function loadSigningKey(privateJwkJson?: string): Promise<SigningKey> {
  let privateJwk: JWK;
  if (privateJwkJson) {
    privateJwk = JSON.parse(privateJwkJson) as JWK;
  } else {
    const pair = await generateKeyPair(TOKEN_ALG, { crv: "Ed25519", extractable: true });
    privateJwk = await exportJWK(pair.privateKey);
  }
  const kid = privateJwk.kid ?? randomUUID();
  const privateKey = (await importJWK({ ...privateJwk, alg: TOKEN_ALG }, TOKEN_ALG)) as CryptoKey;
  if (!privateJwk.x || !privateJwk.crv || !privateJwk.d) {
    throw new Error("signing key must be an Ed25519 private JWK");
  }
  const secret = Buffer.from(privateJwk.d, "base64url");
  return {
    kid,
    privateKey,
    publicJwk: { kty: "OKP", crv: privateJwk.crv, x: privateJwk.x, kid, alg: TOKEN_ALG, use: "sig" },
    deriveKey: (purpose) => Buffer.from(hkdfSync("sha256", secret, "classconnect", purpose, 32)),
  };
}

export interface AccessClaims {
  /** Subject: user or admin id. */
  sub: string;
  /** Session id (user tokens). */
  sid?: string;
  typ: TokenType;
}

export async function signAccessToken(
  key: SigningKey,
  issuer: string,
  claims: AccessClaims,
  ttlSeconds: number,
): Promise<{ token: string; expiresAt: Date }> {
  const now = Math.floor(Date.now() / 1000);
  const expiresAt = new Date((now + ttlSeconds) * 1000);
  const token = await new SignJWT({ typ: claims.typ, ...(claims.sid ? { sid: claims.sid } : {}) })
    .setProtectedHeader({ alg: TOKEN_ALG, kid: key.kid, typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuer(issuer)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .setJti(randomUUID())
    .sign(key.privateKey);
  return { token, expiresAt };
}

/** Supplies verification keys by id. */
export interface KeySource {
  getKey(kid: string): Promise<CryptoKey | undefined>;
}

/** Keys held in memory (the issuing service verifies its own tokens this way). */
export function createStaticKeySource(jwks: PublicJwk[]): KeySource {
  const keys = new Map<string, Promise<CryptoKey>>();
  for (const jwk of jwks) keys.set(jwk.kid, importJWK(jwk, TOKEN_ALG) as Promise<CryptoKey>);
  return { getKey: async (kid) => keys.get(kid) };
}

/**
 * Keys fetched from a JWKS endpoint (a GetJwks RPC), cached; an unknown kid
 * triggers a refresh, at most once per `minRefreshMs`.
 */
export function createRemoteKeySource(
  fetchJwks: () => Promise<PublicJwk[]>,
  options: { minRefreshMs?: number } = {},
): KeySource {
  const minRefreshMs = options.minRefreshMs ?? 10_000;
  let keys = new Map<string, CryptoKey>();
  let lastFetch = 0;
  let inflight: Promise<void> | undefined;
  const refresh = () => {
    inflight ??= (async () => {
      try {
        const jwks = await fetchJwks();
        const next = new Map<string, CryptoKey>();
        for (const jwk of jwks) next.set(jwk.kid, (await importJWK(jwk, TOKEN_ALG)) as CryptoKey);
        keys = next;
        lastFetch = Date.now();
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
  return {
    async getKey(kid) {
      const known = keys.get(kid);
      if (known) return known;
      if (Date.now() - lastFetch < minRefreshMs && lastFetch !== 0) return undefined;
      try {
        await refresh();
      } catch {
        return undefined;
      }
      return keys.get(kid);
    },
  };
}

export interface VerifiedToken {
  typ: TokenType;
  sub: string;
  sid?: string;
}

/** Verifies user and admin access tokens against their issuers' keys. */
export interface TokenVerifier {
  verify(token: string): Promise<VerifiedToken>;
}

/** Verified tokens are remembered until they expire: a signature is checked once per token, not per call. */
const VERIFIED_CACHE_MAX = 10_000;

export function createTokenVerifier(issuers: Partial<Record<TokenType, KeySource>>): TokenVerifier {
  const issuerOf: Record<TokenType, string> = { user: USER_TOKEN_ISSUER, admin: ADMIN_TOKEN_ISSUER };
  const verified = new Map<string, { result: VerifiedToken; expiresAt: number }>();
  return {
    async verify(token) {
      const hit = verified.get(token);
      if (hit) {
        if (hit.expiresAt > Date.now()) return hit.result;
        verified.delete(token);
      }
      const result = await verifyUncached(token);
      if (verified.size >= VERIFIED_CACHE_MAX) verified.delete(verified.keys().next().value!);
      verified.set(token, { result, expiresAt: (decodeJwt(token).exp ?? 0) * 1000 });
      return result;
    },
  };

  async function verifyUncached(token: string): Promise<VerifiedToken> {
    let kid: string | undefined;
    let typ: unknown;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== TOKEN_ALG) throw new Error("alg");
      kid = header.kid;
      typ = decodeJwt(token).typ;
    } catch {
      throw new UnauthenticatedError("invalid access token", "TOKEN_INVALID");
    }
    if ((typ !== "user" && typ !== "admin") || !kid) {
      throw new UnauthenticatedError("invalid access token", "TOKEN_INVALID");
    }
    const source = issuers[typ];
    const key = source && (await source.getKey(kid));
    if (!key) throw new UnauthenticatedError("invalid access token", "TOKEN_INVALID");
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: [TOKEN_ALG],
        issuer: issuerOf[typ],
        audience: TOKEN_AUDIENCE,
        requiredClaims: ["sub", "exp", "iat"],
      });
      return { typ, sub: payload.sub!, ...(typeof payload.sid === "string" ? { sid: payload.sid } : {}) };
    } catch (err) {
      const expired = (err as { code?: string }).code === "ERR_JWT_EXPIRED";
      throw new UnauthenticatedError(
        expired ? "access token expired" : "invalid access token",
        expired ? "TOKEN_EXPIRED" : "TOKEN_INVALID",
      );
    }
  }
}

/** Keys from several sources: the first that knows a key id answers. */
export function combineKeySources(...sources: KeySource[]): KeySource {
  return {
    async getKey(kid) {
      for (const source of sources) {
        const key = await source.getKey(kid);
        if (key) return key;
      }
      return undefined;
    },
  };
}
