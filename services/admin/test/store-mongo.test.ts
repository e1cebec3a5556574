import { randomBytes } from "node:crypto";
import { createMongoAdminStore } from "../src/store/mongo-store.js";
import { adminStoreContract } from "./store-contract.js";

// No MongoDB server can run on the development machines; CI provides one (MONGODB_URL).
const url = process.env["MONGODB_URL"];
if (url) {
  adminStoreContract("MongoDB", async () => {
    const store = await createMongoAdminStore(
      url,
      `classconnect_admin_test_${randomBytes(4).toString("hex")}`,
    );
    return { store, close: () => store.close() };
  });
} else {
  console.log("  (MongoDB admin store contract not run: MONGODB_URL is not set)");
}
