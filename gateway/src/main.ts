import { closeOnSignals, createLogger } from "@classconnect/platform";
import { readGatewayConfig } from "./config.js";
import { startGateway } from "./server.js";

const config = readGatewayConfig();
const logger = createLogger("gateway", config.logLevel);
const gateway = await startGateway(config, { logger });
closeOnSignals(gateway.close, logger);
