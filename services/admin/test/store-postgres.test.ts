import { createPool, migrate } from "@classconnect/platform";
import { createTestDatabase, testLogger } from "@classconnect/platform/testing";
import { migrationsDir } from "../src/app.js";
import { createPostgresAdminStore } from "../src/store/postgres-store.js";
import { adminStoreContract } from "./store-contract.js";

adminStoreContract("PostgreSQL", async () => {
  const sql = createPool(await createTestDatabase("admin_store"));
  await migrate(sql, migrationsDir, testLogger("admin"));
  return { store: createPostgresAdminStore(sql), close: () => sql.end() };
});
