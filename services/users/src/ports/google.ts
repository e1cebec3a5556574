import type { Agent } from "node:http";
import { FailedPreconditionError, UnauthenticatedError } from "@classconnect/platform";
import { type App, deleteApp, initializeApp } from "firebase-admin/app";
import { getAuth } from "firebase-admin/auth";

/** What a verified Google/Firebase ID token tells about its user. */
export interface GoogleIdentity {
  uid: string;
  email: string;
  emailVerified: boolean;
  name: string;
  picture: string;
}

/** Verifies Firebase/Google ID tokens server-side. */
export interface GoogleVerifier {
  verify(idToken: string): Promise<GoogleIdentity>;
  close(): Promise<void>;
}

/**
 * firebase-admin's `verifyIdToken`: signature against Google's published
 * certificates, audience = project id, issuer, expiry. `httpAgent` lets tests
 * point the certificate fetch at a loopback server.
 */
export function createFirebaseGoogleVerifier(options: {
  projectId: string;
  httpAgent?: Agent;
}): GoogleVerifier {
  let app: App | undefined;
  const auth = () => {
    app ??= initializeApp(
      { projectId: options.projectId, ...(options.httpAgent ? { httpAgent: options.httpAgent } : {}) },
      `classconnect-users-${Math.random().toString(36).slice(2)}`,
    );
    return getAuth(app);
  };
  return {
    async verify(idToken) {
      let token: Awaited<ReturnType<ReturnType<typeof auth>["verifyIdToken"]>>;
      try {
        token = await auth().verifyIdToken(idToken);
      } catch {
        throw new UnauthenticatedError("invalid Google ID token", "GOOGLE_TOKEN_INVALID");
      }
      if (!token.email) {
        throw new FailedPreconditionError("the Google account has no e-mail address", "GOOGLE_EMAIL_MISSING");
      }
      return {
        uid: token.uid,
        email: token.email.toLowerCase(),
        emailVerified: token.email_verified === true,
        name: typeof token["name"] === "string" ? token["name"] : "",
        picture: token.picture ?? "",
      };
    },
    async close() {
      if (app) await deleteApp(app);
    },
  };
}

/** Used when no Firebase project is configured: Google sign-in is refused clearly. */
export function createDisabledGoogleVerifier(): GoogleVerifier {
  return {
    async verify() {
      throw new FailedPreconditionError(
        "Google sign-in is not configured on this server (set FIREBASE_PROJECT_ID)",
        "GOOGLE_SIGN_IN_DISABLED",
      );
    },
    async close() {},
  };
}
