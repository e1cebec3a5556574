import { createPool, migrate } from "@classconnect/platform";
import { createTestDatabase, testLogger } from "@classconnect/platform/testing";
import { migrationsDir } from "../src/app.js";
import { createPostgresNotificationsStore } from "../src/store/postgres-store.js";
import { storeContract } from "./store-contract.js";

storeContract("PostgreSQL", async () => {
  const sql = createPool(await createTestDatabase("notif_store"));
  await migrate(sql, migrationsDir, testLogger("notifications"));
  return { store: createPostgresNotificationsStore(sql), close: () => sql.end() };
});
