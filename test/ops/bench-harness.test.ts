// `npm run bench` as a developer runs it, in its quickest mode: it starts the fake upstream, the
// pass-through and the compiled ParrotRouter (empty and seeded database), drives every scenario,
// and writes its report. Figures are never asserted (the machine is shared; speed is judged in
// bench/RESULTS.md); what is asserted is that the harness runs, fails no request, and reports
// every scenario, target and ratio, with the ledger check that every answer was billed.

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempWorkdir } from "../support/binary";

const ROOT = join(import.meta.dir, "../..");

test("npm run bench writes a report with every scenario, target and ratio", () => {
  const out = join(tempWorkdir(), "RESULTS.md");
  const run = Bun.spawnSync([process.execPath, "run", "bench"], {
    cwd: ROOT,
    env: { ...process.env, BENCH_SECONDS: "1", BENCH_ROUNDS: "1", BENCH_STARTS: "1", BENCH_SEED_KEYS: "100", BENCH_SEED_ROWS: "1000", BENCH_OUT: out },
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(run.exitCode, run.stderr.toString()).toBe(0);

  const report = readFileSync(out, "utf8");
  expect(report).toContain("<!-- generated:start -->");
  expect(report).toContain("<!-- generated:end -->");
  for (const scenario of ["non-streaming, 64 connections", "non-streaming, 1 connection", "streaming, 1 connection (latency = time to first byte)"]) {
    for (const target of ["baseline", "parrotrouter", "parrotrouter, seeded database"]) {
      const row = report.split("\n").find((line) => line.startsWith(`| ${scenario} | ${target} |`));
      expect(row, `${scenario} / ${target}`).toBeDefined();
      // The last column is the failed requests: none.
      expect(row!.trim().endsWith("| 0 |"), row).toBe(true);
    }
  }
  for (const target of ["throughput at 64 connections", "added p50 at 1 connection", "streaming TTFB p50", "idle RSS", "RSS under load", "start → first answered request", "100 keys \\+ 1k rows"]) {
    expect(report).toMatch(new RegExp(`\\| ${target}[^\\n]*\\| (met|\\*\\*missed\\*\\*) \\|`));
  }
  expect(report).toMatch(/ParrotRouter \/ pass-through, per round: c64: req\/s [\d.]+ ×/);
  expect(report).toMatch(/its ledger sum equals the cached balance/);
}, 240_000);
