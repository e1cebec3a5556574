import { randomBytes } from "node:crypto";
import { createMongoNotificationsStore } from "../src/store/mongo-store.js";
import { storeContract } from "./store-contract.js";

// No MongoDB server can run on the development machines; CI provides one (MONGODB_URL).
const url = process.env["MONGODB_URL"];
if (url) {
  storeContract("MongoDB", async () => {
    const store = await createMongoNotificationsStore(
      url,
      `classconnect_test_${randomBytes(4).toString("hex")}`,
    );
    return { store, close: () => store.close() };
  });
} else {
  console.log("  (MongoDB store contract not run: MONGODB_URL is not set)");
}
