import { runProcess } from "@classconnect/platform";
import { startUsersServer } from "./app.js";
import { readUsersConfig } from "./config.js";

const config = readUsersConfig();
await runProcess("users", config, (logger) => startUsersServer(config, { logger }));
