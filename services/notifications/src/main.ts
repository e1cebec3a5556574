import { runProcess } from "@classconnect/platform";
import { startNotificationsServer } from "./app.js";
import { readNotificationsConfig } from "./config.js";

const config = readNotificationsConfig();
await runProcess("notifications", config, (logger) => startNotificationsServer(config, { logger }));
