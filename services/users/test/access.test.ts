/**
 * The access matrix: every method of the users service, called by each kind of
 * caller, is refused exactly when its declared access level says so.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { AuthService } from "@classconnect/gen/classconnect/users/v1/auth_service_pb.js";
import { UserAdminService } from "@classconnect/gen/classconnect/users/v1/user_admin_service_pb.js";
import { UserService } from "@classconnect/gen/classconnect/users/v1/user_service_pb.js";
import { Access, methodAccess } from "@classconnect/platform";
import { connectErrorOf } from "@classconnect/platform/testing";
import { Code, createClient } from "@connectrpc/connect";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startUsersHarness, type UsersHarness } from "./harness.js";

const test = suite<{ h: UsersHarness }>("users: access levels");
test.before(async (ctx) => {
  ctx.h = await startUsersHarness();
});
test.after(async (ctx) => {
  await ctx.h.close();
});

type Caller = "anonymous" | "user" | "admin" | "service";
const held: Record<Caller, Access | undefined> = {
  anonymous: undefined,
  user: Access.USER,
  admin: Access.ADMIN,
  service: Access.INTERNAL,
};

test("every method admits exactly its declared callers", async ({ h }) => {
  const u = await h.register();
  const headers: Record<Caller, Record<string, string>> = {
    anonymous: {},
    user: h.bearer(u.accessToken).headers,
    admin: h.bearer(await h.adminToken()).headers,
    service: h.service.headers,
  };
  let checked = 0;
  for (const service of [AuthService, UserService, UserAdminService]) {
    const client = createClient(service, h.transport) as unknown as Record<
      string,
      (req: object, opts: object) => Promise<unknown> | AsyncIterable<unknown>
    >;
    for (const method of service.methods as DescMethod[]) {
      const levels = methodAccess(method);
      assert.ok(levels.length > 0, `${method.name} declares an access level`);
      for (const caller of Object.keys(headers) as Caller[]) {
        const allowed = levels.includes(Access.PUBLIC) || levels.includes(held[caller]!);
        // Logout and ResetPassword would change state; an empty request keeps every call harmless:
        // allowed callers then get past authentication and fail validation (or succeed).
        let code: Code | undefined;
        try {
          await (client[method.localName]!({}, { headers: headers[caller] }) as Promise<unknown>);
        } catch (err) {
          code = connectErrorOf(err).code;
        }
        const refused = code === Code.Unauthenticated || code === Code.PermissionDenied;
        if (allowed) {
          assert.not.ok(refused, `${service.name}.${method.name} must admit ${caller} (got ${Code[code!]})`);
        } else {
          const expected = caller === "anonymous" ? Code.Unauthenticated : Code.PermissionDenied;
          assert.is(code, expected, `${service.name}.${method.name} must refuse ${caller}`);
        }
        checked++;
      }
    }
  }
  assert.is(
    checked,
    4 * (AuthService.methods.length + UserService.methods.length + UserAdminService.methods.length),
  );
});

test.run();
