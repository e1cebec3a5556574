/** Password hashing (argon2id) and one-time secrets, shared by every service that signs people in. */
import { createHash, randomBytes, randomInt } from "node:crypto";
import { hash as argon2Hash, verify as argon2Verify } from "@node-rs/argon2";

/** argon2id with OWASP's recommended minimums (19 MiB, 2 passes). */
const argon2Options = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password, argon2Options);
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await argon2Verify(hash, password);
  } catch {
    return false;
  }
}

/** Spent on unknown e-mails so they take as long as wrong passwords. */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword(randomBytes(16).toString("hex"));
  return dummyHash;
}

/** An opaque bearer secret (a password-reset token): 256 random bits, base64url. */
export function newOpaqueToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Secrets are stored only as SHA-256 digests. */
export function digest(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

/** A 6-digit PIN, uniformly random. */
export function newPin(): string {
  return randomInt(0, 1_000_000).toString().padStart(6, "0");
}

/** PINs are short, so their digest is bound to the user. */
export function pinDigest(userId: string, pin: string): Buffer {
  return digest(`${userId}:${pin}`);
}
