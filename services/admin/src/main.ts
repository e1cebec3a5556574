import { closeOnSignals, createLogger } from "@classconnect/platform";
import { startAdminServer } from "./app.js";
import { readAdminConfig } from "./config.js";

const config = readAdminConfig();
const logger = createLogger("admin", config.logLevel);
const server = await startAdminServer(config, { logger });
closeOnSignals(server.close, logger);
