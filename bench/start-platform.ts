/** Starts `npm start` (scripts/start.ts) as a child process on free ports and waits for it. */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export async function startPlatform(env: Record<string, string>): Promise<{
  url: string;
  child: ChildProcess;
  output: string[];
  startedInMs: number;
  stop(): Promise<void>;
}> {
  const started = performance.now();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn", ...env };
  for (const name of ["USERS_PORT", "COURSES_PORT", "NOTIFICATIONS_PORT", "ADMIN_PORT", "GATEWAY_PORT"])
    childEnv[name] ??= "0";
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
    env: childEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on("line", (l) => output.push(l));
    createInterface({ input: child.stdout! }).on("line", (l) => {
      output.push(l);
      const m = /ClassConnect is running: (\S+)/.exec(l);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`start exited ${code}:\n${output.join("\n")}`)));
  });
  return {
    url,
    child,
    output,
    startedInMs: performance.now() - started,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
