import { runProcess } from "@classconnect/platform";
import { readGatewayConfig } from "./config.js";
import { startGateway } from "./server.js";

const config = readGatewayConfig();
await runProcess("gateway", config, (logger) => startGateway(config, { logger }));
