import { runProcess } from "@classconnect/platform";
import { startAdminServer } from "./app.js";
import { readAdminConfig } from "./config.js";

const config = readAdminConfig();
await runProcess("admin", config, (logger) => startAdminServer(config, { logger }));
