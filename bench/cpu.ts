/**
 * CPU time per process, from /proc (Linux): where a benchmark's CPU goes.
 * On other systems `cpuSampler` returns undefined and benches skip the table.
 */
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100;
/** The key under which a sample carries the whole machine's busy seconds. */
export const MACHINE = "machine";

interface Proc {
  pid: number;
  ppid: number;
  ticks: number;
}

function readProcs(): Map<number, Proc> {
  const procs = new Map<number, Proc>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // Fields after the command name (which may hold spaces): state ppid … utime(14) stime(15).
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      procs.set(Number(name), {
        pid: Number(name),
        ppid: Number(fields[1]),
        ticks: Number(fields[11]) + Number(fields[12]),
      });
    } catch {
      // The process ended while we looked.
    }
  }
  return procs;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/**
 * Groups processes by name: each root pid with its descendants, except that a
 * descendant whose command line matches one of `split` is counted under that name.
 */
export function cpuSampler(
  roots: Record<string, number>,
  split: Record<string, RegExp> = {},
): (() => Map<string, number>) | undefined {
  try {
    readdirSync("/proc/self/task");
  } catch {
    return undefined;
  }
  const groupOf = new Map<number, string>();
  return () => {
    const procs = readProcs();
    const children = new Map<number, number[]>();
    for (const p of procs.values()) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
    const totals = new Map<string, number>();
    const rootPids = new Set(Object.values(roots));
    const visit = (pid: number, group: string) => {
      if (rootPids.has(pid) && roots[group] !== pid) return; // counted under its own name
      let g = groupOf.get(pid);
      if (!g) {
        const line = cmdline(pid);
        g = Object.entries(split).find(([, re]) => re.test(line))?.[0] ?? group;
        groupOf.set(pid, g);
      }
      totals.set(g, (totals.get(g) ?? 0) + (procs.get(pid)?.ticks ?? 0) / TICKS_PER_SECOND);
      for (const child of children.get(pid) ?? []) visit(child, g);
    };
    for (const [name, pid] of Object.entries(roots)) visit(pid, name);
    // The whole machine's busy time (everything but idle and iowait), so that what no process
    // is charged for (network interrupts of loopback traffic, other tenants) shows as the rest.
    const [user, nice, system, , , irq, softirq, steal] = readFileSync("/proc/stat", "utf8")
      .split("\n")[0]!
      .split(/\s+/)
      .slice(1)
      .map(Number);
    totals.set(MACHINE, (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND);
    return totals;
  };
}
