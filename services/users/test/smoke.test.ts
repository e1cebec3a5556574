import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startUsersHarness, type UsersHarness } from "./harness.js";

const test = suite<{ h: UsersHarness }>("users smoke");
test.before(async (ctx) => {
  ctx.h = await startUsersHarness();
});
test.after(async (ctx) => {
  await ctx.h.close();
});
test("register, login, get me", async ({ h }) => {
  const u = await h.register({ email: "smoke@example.com" });
  const me = await h.users.getMe({}, h.bearer(u.accessToken));
  assert.is(me.user?.email, "smoke@example.com");
  const login = await h.auth.login({ email: "smoke@example.com", password: u.password });
  assert.ok(login.session?.accessToken);
});
test.run();
