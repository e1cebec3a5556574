import { runProcess } from "@classconnect/platform";
import { startCoursesServer } from "./app.js";
import { readCoursesConfig } from "./config.js";

const config = readCoursesConfig();
await runProcess("courses", config, (logger) => startCoursesServer(config, { logger }));
