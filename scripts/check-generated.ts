import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

function listFiles(dir: string, base = dir, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) listFiles(path, base, out);
    else if (entry.name.endsWith(".ts")) out.push(relative(base, path));
  }
  return out;
}

/** Regenerates into a temporary directory and returns the gen/ files that differ. */
export function checkGenerated(): string[] {
  const out = mkdtempSync(join(tmpdir(), "classconnect-gen-"));
  try {
    const result = spawnSync(join("node_modules", ".bin", "buf"), ["generate", "--output", out], {
      stdio: "inherit",
    });
    if (result.status !== 0) return ["(buf generate failed)"];
    const fresh = listFiles(join(out, "gen"));
    const committed = listFiles("gen");
    const differing = new Set<string>();
    for (const file of new Set([...fresh, ...committed])) {
      let a: string | undefined;
      let b: string | undefined;
      try {
        a = readFileSync(join(out, "gen", file), "utf8");
      } catch {}
      try {
        b = readFileSync(join("gen", file), "utf8");
      } catch {}
      if (a !== b) differing.add(file);
    }
    return [...differing].sort();
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
