/**
 * Migration 0006 (refresh generations) on a database that older code used: sessions and
 * refresh tokens of the old kind are there. Old tokens stop working (their holders sign in
 * again), their sessions go with the pruning a day on, and everything new works.
 */
import { createHash, randomUUID } from "node:crypto";
import { copyFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { migrate } from "@classconnect/platform";
import { createTestDatabase, rejects, temporaryDirectory, testLogger } from "@classconnect/platform/testing";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { migrationsDir } from "../src/app.js";
import { startUsersHarness } from "./harness.js";

test("users: migration 0006 over sessions and refresh tokens of the old kind", async () => {
  const databaseUrl = await createTestDatabase("users_upgrade");
  // The schema as the code before 0006 left it.
  const before = temporaryDirectory("migrations");
  for (const file of (await readdir(migrationsDir)).filter((f) => f < "0006")) {
    await copyFile(join(migrationsDir, file), join(before, file));
  }
  const [userId, sessionId, legacyToken] = [randomUUID(), randomUUID(), "an-opaque-token-of-the-old-kind"];
  const old = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    assert.equal(await migrate(old, before, testLogger("users")), (await readdir(before)).sort());
    await old`insert into users (id, email, first_name, last_name) values (${userId}, 'old@example.com', 'O', 'K')`;
    await old`insert into sessions (id, user_id) values (${sessionId}, ${userId})`;
    await old`insert into refresh_tokens (token_hash, session_id, expires_at)
              values (${createHash("sha256").update(legacyToken).digest()}, ${sessionId}, now() + interval '30 days')`;
  } finally {
    await old.end();
  }

  const h = await startUsersHarness({ databaseUrl });
  try {
    const { sql } = h;
    assert.equal(
      (await sql`select to_regclass('refresh_tokens') as t`)[0]!["t"],
      null,
      "refresh tokens are no longer stored",
    );
    const [session] = await sql`
      select refresh_generation, refresh_expires_at <= now() as expired from sessions where id = ${sessionId}`;
    assert.equal([session!["refresh_generation"], session!["expired"]], [0, true]);
    await rejects(
      h.auth.refreshSession({ refreshToken: legacyToken }),
      Code.Unauthenticated,
      "REFRESH_TOKEN_INVALID",
    );
    // A day on, the pruning takes the old session; sign-up, sign-in and refresh work.
    await sql`update sessions set refresh_expires_at = refresh_expires_at - interval '2 days' where id = ${sessionId}`;
    await h.server.pruneExpired();
    assert.is((await sql`select 1 from sessions where id = ${sessionId}`).length, 0);
    const u = await h.register();
    const refreshed = await h.auth.refreshSession({ refreshToken: u.refreshToken });
    await h.users.getMe({}, h.bearer(refreshed.session!.accessToken));
  } finally {
    await h.close();
  }
});

test.run();
