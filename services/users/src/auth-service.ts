import { create } from "@bufbuild/protobuf";
import {
  type AuthService,
  GetJwksResponseSchema,
} from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import type { PublicJwk } from "@classconnect/platform";
import { requireUser } from "@classconnect/platform";
import type { ServiceImpl } from "@connectrpc/connect";
import { toSession, toUser } from "./convert.js";
import type { Auth } from "./domain/auth.js";

export function createAuthService(auth: Auth, jwks: () => PublicJwk[]): ServiceImpl<typeof AuthService> {
  return {
    async register(req) {
      const { user, session } = await auth.register({
        email: req.email,
        password: req.password,
        firstName: req.firstName,
        lastName: req.lastName,
        location: req.location,
        notificationsOptIn: req.notificationsOptIn,
        timeZone: req.timeZone,
      });
      return { user: toUser(user), session: toSession(session) };
    },
    async verifyEmail(req, ctx) {
      return { user: toUser(await auth.verifyEmail(requireUser(ctx).userId, req.pin)) };
    },
    async resendVerificationPin(_req, ctx) {
      await auth.resendPin(requireUser(ctx).userId);
      return {};
    },
    async login(req) {
      const { user, session } = await auth.login(req.email, req.password);
      return { user: toUser(user), session: toSession(session) };
    },
    async loginWithGoogle(req) {
      const result = await auth.loginWithGoogle(req.idToken, req.password);
      return {
        user: toUser(result.user),
        session: toSession(result.session),
        created: result.created,
        linked: result.linked,
      };
    },
    async refreshSession(req) {
      return { session: toSession(await auth.refresh(req.refreshToken)) };
    },
    async logout(req, ctx) {
      await auth.logout(requireUser(ctx).userId, req.refreshToken);
      return {};
    },
    async requestPasswordReset(req) {
      await auth.requestPasswordReset(req.email);
      return {};
    },
    async resetPassword(req) {
      await auth.resetPassword(req.token, req.newPassword);
      return {};
    },
    async changePassword(req, ctx) {
      const { userId, sessionId } = requireUser(ctx);
      await auth.changePassword(userId, sessionId, req.currentPassword, req.newPassword);
      return {};
    },
    async getJwks() {
      return create(GetJwksResponseSchema, { keys: jwks() });
    },
    listRevokedSessions: (req, ctx) => auth.revokedSessions(req, ctx.signal),
  };
}
