import { cpus, totalmem } from "node:os";

/** A closed-loop load generator: `concurrency` workers call `fn` back to back for `seconds`. */
export interface LoadResult {
  requests: number;
  errors: number;
  perSecond: number;
  p50: number;
  p99: number;
}

export async function load(
  fn: () => Promise<unknown>,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        try {
          await fn();
          latencies.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    requests: latencies.length,
    errors,
    perSecond: latencies.length / seconds,
    p50: at(0.5),
    p99: at(0.99),
  };
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [
    headers,
    ...rows.map((r) =>
      r.map((c) => (typeof c === "number" ? (Number.isInteger(c) ? String(c) : c.toFixed(2)) : c)),
    ),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  return cells.map((r) => r.map((c, i) => String(c).padStart(widths[i]!)).join("  ")).join("\n");
}

/**
 * The machine a bench ran on, printed under its title: figures are quoted with it, and
 * the same code measures differently on another CPU.
 */
export function machine(): string {
  const cores = cpus();
  const model = cores[0]?.model.trim() || "unknown CPU";
  const gib = (totalmem() / 2 ** 30).toFixed(1);
  const at = new Date().toISOString().slice(0, 16).replace("T", " ");
  return `${model}, ${cores.length} cores, ${gib} GiB, Node ${process.versions.node}, ${at} UTC`;
}
