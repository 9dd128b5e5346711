// `bun bench/ab.ts <git-ref>`: this checkout against another revision, one connection, with the
// requests interleaved: pass-through, this checkout and the other revision take turns request
// by request (the two routers' order alternating), so the machine's drift, which moves one
// run's p50 by ±15 µs on a shared box, falls on all three alike. Prints each router's added
// latency at the 25th, 50th and 75th percentiles and the difference; BENCH_REQUESTS (default
// 15,000 per target, the first 2,000 discarded as warm-up). Both run from source (BENCH_BINARY=1:
// as compiled binaries). Compare a revision with itself (`bun bench/ab.ts HEAD` on a clean
// tree) to see the noise floor.
// The client is Bun's fetch, not autocannon, so the absolute figures differ from `npm run
// bench`'s; the difference between the routers is what this is for.
//
// With BENCH_CONNECTIONS above 1 (64 for the throughput target) requests cannot be
// interleaved; instead BENCH_ROUNDS (default 8) rounds of BENCH_SECONDS (default 2) take turns
// (bench/rounds.ts). Prints medians of each router's req/s over the pass-through's and of its
// CPU per request, and of the two routers' per-round differences.

import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "./load";
import { alternatingRounds, type RoundFigures, type RoundTarget } from "./rounds";
import { authHeaders, compileBinary, createLiveKey, REQUEST_BODY, ROOT, SOURCE, startBaseline, startRouter, startUpstream, stopAll, writeConfig } from "./targets";

const ref = process.argv[2];
if (!ref) {
  console.error("usage: bun bench/ab.ts <git-ref>");
  process.exit(2);
}
const requests = Number(process.env.BENCH_REQUESTS ?? 15_000);
const WARM_UP = 2_000;
const connections = Number(process.env.BENCH_CONNECTIONS ?? 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 8);
const seconds = Number(process.env.BENCH_SECONDS ?? 2);
/** BENCH_BINARY=1: both revisions as compiled binaries (`npm run build`), as `npm run bench` runs them. */
const compiled = process.env.BENCH_BINARY === "1";
const work = mkdtempSync(join(tmpdir(), "parrotrouter-ab-"));
const otherTree = join(work, "tree");

function git(...args: string[]): void {
  const result = Bun.spawnSync(["git", ...args], { cwd: ROOT });
  if (result.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${result.stderr.toString()}`);
}

const quantile = (sorted: number[], q: number) => sorted[Math.floor(sorted.length * q)]!;
const µs = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
const signed = (value: number, digits: number) => `${value >= 0 ? "+" : ""}${value.toFixed(digits)}`;

interface AbTarget extends RoundTarget {
  latencies: number[];
}

/** One connection: requests interleaved one by one; added latency at p25/p50/p75. */
async function interleaved(pass: AbTarget, routers: AbTarget[]): Promise<void> {
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
  console.log(`this checkout − ${ref}: ${signed((added[0]! - added[1]!) * 1000, 1)} µs at p50`);
}

/** Several connections: rounds of load taking turns (rounds.ts); the routers' difference. */
async function throughput(pass: AbTarget, routers: AbTarget[]): Promise<void> {
  const figures = await alternatingRounds(pass, routers, { connections, rounds, seconds });
  const [ours, theirs] = routers.map((router) => figures.get(router)!) as [RoundFigures, RoundFigures];
  const ratioDiff = median(ours.ratios.map((ratio, i) => ratio - theirs.ratios[i]!));
  const cpuDiff = median(ours.cpuUs.map((cpu, i) => cpu - theirs.cpuUs[i]!));
  console.log(`this checkout − ${ref}: ${signed(ratioDiff, 3)} × in req/s ratio, ${signed(cpuDiff, 1)} µs CPU per request (medians of the per-round differences)`);
}

try {
  git("worktree", "add", "--detach", otherTree, ref);
  symlinkSync(join(ROOT, "node_modules"), join(otherTree, "node_modules"));
  const ours = compiled ? compileBinary(ROOT) : SOURCE;
  const other = compiled ? compileBinary(otherTree) : [process.execPath, join(otherTree, "src/main.ts")];

  const upstream = await startUpstream();
  const baseline = await startBaseline(upstream.target);
  const routers = await Promise.all(
    [
      { name: "this checkout", command: ours },
      { name: ref, command: other },
    ].map(async ({ name, command }): Promise<AbTarget> => {
      const config = writeConfig(work, name === ref ? "other" : "this", join(work, `${name === ref ? "other" : "this"}.db`), upstream.port);
      const key = createLiveKey(command, config);
      const target = await startRouter(name, command, config, key);
      return { name, url: target.url, pid: target.pid, headers: authHeaders(key), latencies: [] };
    }),
  );
  const pass: AbTarget = { name: "pass-through", url: baseline.url, pid: baseline.pid, headers: { "content-type": "application/json" }, latencies: [] };
  if (connections > 1) await throughput(pass, routers);
  else await interleaved(pass, routers);
} finally {
  await stopAll();
  git("worktree", "remove", "--force", otherTree);
  rmSync(work, { recursive: true, force: true });
}
