import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { createPool, migrate } from "../src/index.js";
import { createTestDatabase, temporaryDirectory, testLogger } from "../src/testing/index.js";

const test = suite("platform: migrations");

test("apply in order, once, recorded; concurrent starters do not collide; a failure rolls back", async () => {
  const dir = temporaryDirectory("migrations");
  writeFileSync(join(dir, "0002_add.sql"), "alter table t add column b int not null default 2;");
  writeFileSync(join(dir, "0001_create.sql"), "create table t (a int primary key);");
  writeFileSync(join(dir, "notes.txt"), "ignored");
  const sql = createPool(await createTestDatabase("migrate"), { max: 4 });
  const logger = testLogger("migrate");
  try {
    const results = await Promise.all([
      migrate(sql, dir, logger),
      migrate(sql, dir, logger),
      migrate(sql, dir, logger),
    ]);
    assert.equal(results.flat().sort(), ["0001_create.sql", "0002_add.sql"]);
    assert.equal(await migrate(sql, dir, logger), []);
    await sql`insert into t (a) values (1)`;
    assert.equal(
      (await sql`select a, b from t`).map((r) => [r["a"], r["b"]]),
      [[1, 2]],
    );
    writeFileSync(join(dir, "0003_broken.sql"), "create table u (x int); select * from missing_table;");
    let failed = false;
    try {
      await migrate(sql, dir, logger);
    } catch {
      failed = true;
    }
    assert.ok(failed);
    const [u] = await sql`select to_regclass('u') as u`;
    assert.is(u!["u"], null, "nothing of the failed migration remains");
    const versions = (
      await sql<{ version: string }[]>`select version from schema_migrations order by version`
    ).map((r) => r.version);
    assert.equal(versions, ["0001_create.sql", "0002_add.sql"]);
  } finally {
    await sql.end();
  }
});

test.run();
