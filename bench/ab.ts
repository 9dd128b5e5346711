// `bun bench/ab.ts <git-ref>`: this checkout against another revision, one connection, with the
// requests interleaved: pass-through, this checkout and the other revision take turns request
// by request (the two routers' order alternating), so the machine's drift, which moves one
// run's p50 by ±15 µs on a shared box, falls on all three alike. Prints each router's added
// latency at the 25th, 50th and 75th percentiles and the difference; BENCH_REQUESTS (default
// 15,000 per target, the first 2,000 discarded as warm-up). Both run from source. Compare a
// revision with itself (`bun bench/ab.ts HEAD` on a clean tree) to see the noise floor.
// The client is Bun's fetch, not autocannon, so the absolute figures differ from `npm run
// bench`'s; the difference between the routers is what this is for.

import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { authHeaders, createLiveKey, REQUEST_BODY, ROOT, SOURCE, startBaseline, startRouter, startUpstream, stopAll, writeConfig } from "./targets";

const ref = process.argv[2];
if (!ref) {
  console.error("usage: bun bench/ab.ts <git-ref>");
  process.exit(2);
}
const requests = Number(process.env.BENCH_REQUESTS ?? 15_000);
const WARM_UP = 2_000;
const work = mkdtempSync(join(tmpdir(), "parrotrouter-ab-"));
const otherTree = join(work, "tree");

function git(...args: string[]): void {
  const result = Bun.spawnSync(["git", ...args], { cwd: ROOT });
  if (result.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr.toString()}`);
}

const quantile = (sorted: number[], q: number) => sorted[Math.floor(sorted.length * q)]!;
const µs = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;

try {
  git("worktree", "add", "--detach", otherTree, ref);
  symlinkSync(join(ROOT, "node_modules"), join(otherTree, "node_modules"));
  const other = [process.execPath, join(otherTree, "src/main.ts")];

  const upstream = await startUpstream();
  const baseline = await startBaseline(upstream.target);
  const routers = await Promise.all(
    [
      { name: "this checkout", command: SOURCE },
      { name: ref, command: other },
    ].map(async ({ name, command }) => {
      const config = writeConfig(work, name === ref ? "other" : "this", join(work, `${name === ref ? "other" : "this"}.db`), upstream.port);
      const key = createLiveKey(command, config);
      const target = await startRouter(name, command, config, key);
      return { name, url: target.url, headers: authHeaders(key), latencies: [] as number[] };
    }),
  );
  const pass = { name: "pass-through", url: baseline.url, headers: { "content-type": "application/json" }, latencies: [] as number[] };

  for (let i = 0; i < requests; i++) {
    const turn = i % 2 === 0 ? [pass, routers[0]!, routers[1]!] : [pass, routers[1]!, routers[0]!];
    for (const target of turn) {
      const started = performance.now();
      const response = await fetch(target.url, { method: "POST", headers: target.headers, body: REQUEST_BODY });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`${target.name} answered ${response.status}`);
      if (i >= WARM_UP) target.latencies.push(performance.now() - started);
    }
  }

  const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
  const base = sorted(pass.latencies);
  console.log(`${requests - WARM_UP} requests each; pass-through p50 ${µs(quantile(base, 0.5))}`);
  const added = routers.map((router) => {
    const own = sorted(router.latencies);
    const at = (q: number) => quantile(own, q) - quantile(base, q);
    console.log(`${router.name.padEnd(16)} added p25 ${µs(at(0.25))}, p50 ${µs(at(0.5))}, p75 ${µs(at(0.75))}`);
    return at(0.5);
  });
  console.log(`this checkout − ${ref}: ${added[0]! - added[1]! >= 0 ? "+" : ""}${µs(added[0]! - added[1]!)} at p50`);
} finally {
  await stopAll();
  git("worktree", "remove", "--force", otherTree);
  rmSync(work, { recursive: true, force: true });
}
