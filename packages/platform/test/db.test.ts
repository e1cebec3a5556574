/**
 * How the PostgreSQL pool behaves when connections fail: it reconnects
 * promptly once the database is back, and a failure inside the driver's own
 * start-up queries never escapes as an unhandled rejection (which would end
 * the process). The whole-system version of this is
 * services/courses/test/db-restart.test.ts.
 */
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createPool, inTransaction, reconnectDelaySeconds } from "../src/index.js";
import { createTestDatabase } from "../src/testing/index.js";

const test = suite("platform: PostgreSQL pool under connection failures");

test("reconnect delays grow from 50 ms and never exceed one second", () => {
  for (let retries = 0; retries <= 60; retries++) {
    const delay = reconnectDelaySeconds(retries);
    const ceiling = Math.min(0.05 * 2 ** retries, 1);
    assert.ok(
      delay >= ceiling / 2 && delay <= ceiling,
      `retry ${retries}: ${delay} s within [${ceiling / 2}, ${ceiling}]`,
    );
  }
  const pool = createPool("postgres://postgres:postgres@127.0.0.1:1/none");
  assert.is((pool as unknown as { options: { backoff: unknown } }).options.backoff, reconnectDelaySeconds);
  void pool.end();
});

test("a failed array-type lookup on a new connection does not escape as an unhandled rejection", async () => {
  // A role that may not read pg_catalog.pg_type: the driver's type lookup,
  // run on every new connection, fails with 42501 each time (porsager/postgres#1192).
  const url = await createTestDatabase("typeless");
  const superuser = createPool(url, { max: 1 });
  const role = `typeless_${randomBytes(4).toString("hex")}`;
  await superuser.unsafe(`create role ${role} login password '${role}'`);
  await superuser`revoke select on pg_catalog.pg_type from public`;
  const escaped: unknown[] = [];
  const onUnhandled = (reason: unknown) => escaped.push(reason);
  process.on("unhandledRejection", onUnhandled);
  const pool = createPool(url.replace(/\/\/[^@]+@/, `//${role}:${role}@`), { max: 2 });
  try {
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++) {
      outcomes.push(
        await pool`select 1 as one`.then(
          (rows) => `row ${rows[0]?.one}`,
          (err: { code?: string }) => `error ${err.code}`,
        ),
      );
    }
    await sleep(100);
    assert.equal(escaped, [], "no rejection escaped the driver");
    // The driver hands the lookup's error to the query that opened the
    // connection (porsager/postgres#1223); the connection then serves queries.
    assert.equal(outcomes, ["error 42501", "row 1", "row 1", "row 1"]);
  } finally {
    process.off("unhandledRejection", onUnhandled);
    await pool.end();
    await superuser.unsafe(`drop owned by ${role}`);
    await superuser.unsafe(`drop role ${role}`);
    await superuser.end();
  }
});

test("queries settle through the driver's shared methods (scripts/patch-deps.ts): rows, errors, cursors", async () => {
  const pool = createPool(await createTestDatabase("settle"), { max: 2 });
  try {
    const query = pool`select 1 as one`;
    assert.not.ok(Object.hasOwn(query, "resolve"), "no resolve closure of its own");
    assert.not.ok(Object.hasOwn(query, "reject"), "no reject closure of its own");
    assert.equal([...(await query)], [{ one: 1 }]);
    const failed = await pool`select * from no_such_table`.then(
      () => "resolved",
      (err: { code?: string }) => err.code,
    );
    assert.is(failed, "42P01");
    // A cursor assigns its own resolve and reject over the shared ones, as before.
    const batches: number[][] = [];
    for await (const rows of pool`select generate_series(1, 5) as n`.cursor(2)) {
      batches.push(rows.map((r) => r.n as number));
    }
    assert.equal(batches, [[1, 2], [3, 4], [5]]);
    const [after] = await pool`select 2 as two`;
    assert.is(after?.two, 2, "the connection serves queries after the cursor");
  } finally {
    await pool.end();
  }
});

test("inTransaction called inside one of its own transactions joins it: both commit or neither", async () => {
  const pool = createPool(await createTestDatabase("nested"), { max: 2 });
  try {
    await pool`create table t (n int)`;
    // A store method that makes its own transaction, called from a larger one.
    const insert = (sql: typeof pool, n: number) =>
      inTransaction(sql, (tx) => tx`insert into t values (${n})`);
    await inTransaction(pool, async (tx) => {
      await insert(tx, 1);
      const [seen] = await tx<{ n: number }[]>`select count(*)::int as n from t`;
      assert.is(seen?.n, 1, "the inner write is in the outer transaction");
      const [elsewhere] = await pool<{ n: number }[]>`select count(*)::int as n from t`;
      assert.is(elsewhere?.n, 0, "and not yet committed");
    });
    const failed = await inTransaction(pool, async (tx) => {
      await insert(tx, 2);
      throw new Error("after the inner write");
    }).catch((err: Error) => err.message);
    assert.is(failed, "after the inner write");
    const rows = await pool<{ n: number }[]>`select n from t order by n`;
    assert.equal(
      rows.map((r) => r.n),
      [1],
      "the inner write of the failed transaction rolled back with it",
    );
  } finally {
    await pool.end();
  }
});

test.run();
