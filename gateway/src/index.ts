export { type GatewayConfig, readGatewayConfig } from "./config.js";
export { rateLimitedMethods, routeTable, type Upstream } from "./route-table.js";
export { type RunningGateway, startGateway } from "./server.js";
