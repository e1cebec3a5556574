import { closeOnSignals, createLogger } from "@classconnect/platform";
import { startUsersServer } from "./app.js";
import { readUsersConfig } from "./config.js";

const config = readUsersConfig();
const logger = createLogger("users", config.logLevel);
const server = await startUsersServer(config, { logger });
closeOnSignals(server.close, logger);
