import { closeOnSignals, createLogger } from "@classconnect/platform";
import { startCoursesServer } from "./app.js";
import { readCoursesConfig } from "./config.js";

const config = readCoursesConfig();
const logger = createLogger("courses", config.logLevel);
const server = await startCoursesServer(config, { logger });
closeOnSignals(server.close, logger);
