import { randomBytes } from "node:crypto";
import type { Sql } from "../db.js";

/**
 * Runs `work` while PostgreSQL refuses inserts into `table` (only rows for which `when`, an
 * SQL condition on `new`, holds; every row by default), through a real trigger that raises
 * an error: for tests that a change and what must land with it commit together or not at
 * all. The trigger is dropped afterwards, whatever `work` does.
 */
export async function refusingInserts<T>(
  sql: Sql,
  table: string,
  work: () => Promise<T>,
  when = "true",
): Promise<T> {
  const name = `refuse_${randomBytes(4).toString("hex")}`;
  await sql.unsafe(`
    create function ${name}() returns trigger language plpgsql as $$
    begin
      if ${when} then raise exception 'inserts into ${table} refused (test)'; end if;
      return new;
    end $$;
    create trigger ${name} before insert on ${table} for each row execute function ${name}();`);
  try {
    return await work();
  } finally {
    await sql.unsafe(`drop trigger ${name} on ${table}; drop function ${name}();`);
  }
}
