import { closeOnSignals, createLogger } from "@classconnect/platform";
import { startNotificationsServer } from "./app.js";
import { readNotificationsConfig } from "./config.js";

const config = readNotificationsConfig();
const logger = createLogger("notifications", config.logLevel);
const server = await startNotificationsServer(config, { logger });
closeOnSignals(server.close, logger);
