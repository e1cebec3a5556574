/**
 * The access matrix through the gateway: every public method of every service,
 * called anonymously, as a user and as an admin, is refused exactly when its
 * declared access level says so, and is implemented; internal-only methods are
 * refused to all.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { AdminAuthService } from "@classconnect/gen/classconnect/admin/v1/admin_auth_service_pb.js";
import { Access, isInternalOnly, methodAccess } from "@classconnect/platform";
import { connectErrorOf } from "@classconnect/platform/testing";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { routeTable } from "../src/index.js";
import { FIRST_ADMIN, type System, startSystem } from "./system.js";

const test = suite<{ sys: System }>("gateway: access levels of every method");
test.before(async (ctx) => {
  ctx.sys = await startSystem();
});
test.after(async (ctx) => {
  await ctx.sys?.close();
});

async function adminLogin(sys: System): Promise<Record<string, string>> {
  const res = await sys.client(AdminAuthService).login(FIRST_ADMIN);
  return { authorization: `Bearer ${res.accessToken}` };
}

test("each caller is admitted or refused as the contract declares", async ({ sys }) => {
  const user = await sys.register();
  const callers = {
    anonymous: { headers: {} as Record<string, string>, holds: undefined },
    user: { headers: user.auth.headers, holds: Access.USER },
    admin: { headers: (await sys.adminAuth()).headers, holds: Access.ADMIN },
  };
  const transport = createGrpcTransport({ baseUrl: sys.url });
  let checked = 0;
  for (const { service } of routeTable) {
    const client = createClient(service, transport) as unknown as Record<
      string,
      (req: object, opts: object) => Promise<unknown> | AsyncIterable<unknown>
    >;
    for (const method of service.methods as DescMethod[]) {
      const levels = methodAccess(method);
      assert.ok(levels.length > 0, `${service.name}.${method.name} declares its access level`);
      for (const [name, caller] of Object.entries(callers)) {
        let code: Code | undefined;
        // An admin's Logout ends its session: it gets one of its own, not the shared one.
        const headers =
          name === "admin" && method === AdminAuthService.method.logout
            ? await adminLogin(sys)
            : caller.headers;
        try {
          const result = client[method.localName]!({}, { headers });
          if (Symbol.asyncIterator in (result as object)) {
            for await (const _ of result as AsyncIterable<unknown>) break;
          } else {
            await result;
          }
        } catch (err) {
          code = connectErrorOf(err).code;
        }
        const where = `${service.name}.${method.name} as ${name}`;
        if (isInternalOnly(method)) {
          assert.is(code, Code.PermissionDenied, where);
        } else if (
          levels.includes(Access.PUBLIC) ||
          (caller.holds !== undefined && levels.includes(caller.holds))
        ) {
          assert.ok(
            code !== Code.Unauthenticated && code !== Code.PermissionDenied,
            `${where} must pass (${Code[code!]})`,
          );
        } else {
          assert.is(code, name === "anonymous" ? Code.Unauthenticated : Code.PermissionDenied, where);
        }
        checked++;
      }
    }
  }
  const methods = routeTable.reduce((n, { service }) => n + service.methods.length, 0);
  assert.is(checked, 3 * methods);
  assert.ok(methods >= 90, `${methods} methods routed`);
});

test.run();
