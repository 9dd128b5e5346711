// `bun bench/threads.ts`: where the two cores go at 64 connections (BENCH_CONNECTIONS=1: at
// one). The pass-through, the JSON-reading proxy (bench/json-proxy.ts), the lean router
// (bench/lean-router.ts) and ParrotRouter from source take turns (BENCH_ROUNDS, default 3, of
// BENCH_SECONDS, default 4). For each: every busy thread's share of the wall clock on a CPU
// and runnable but waiting for one (/proc/<pid>/task/*/schedstat) and its CPU per request, the
// kernel's part of it shown; the CPU per request of each process on the machine (the target,
// the fake upstream, the load generator: autocannon runs in this process) and what that sum
// allows: the req/s the machine could give if both cores were always busy; and for each
// process its CPU per request in user space and in the kernel, and how often per request its
// threads blocked (voluntary context switches) or were preempted (involuntary). The
// user/kernel split comes from 10-ms ticks.

import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { median, runLoad } from "./load";
import { machineCpuMs, threadTimes } from "./proc";
import { inTurn } from "./rounds";
import { authHeaders, REQUEST_BODY, startUpstreamAndReferenceProxies, stopAll } from "./targets";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
/** Threads busy less than this share of the run are left out of the table. */
const SHOWN_ABOVE = 0.01;

/** Per-round figures of one target. */
interface Figures {
  rps: number[];
  /** The machine's busy share of the run. */
  busy: number[];
  /** "process / thread" → shares of the wall clock and CPU µs per request. */
  threads: Map<string, { onCpu: number[]; waiting: number[]; usPerRequest: number[]; kernelUsPerRequest: number[] }>;
  /** process → CPU µs per request, all its threads. */
  processes: Map<string, number[]>;
  /** process → per request: user and kernel CPU µs, voluntary and involuntary context switches (all its threads). */
  kernelSplit: Map<string, { userUs: number[]; systemUs: number[]; blocked: number[]; preempted: number[] }>;
}

const work = mkdtempSync(join(tmpdir(), "parrotrouter-threads-"));
try {
  const { upstream, baseline, jsonProxy, leanRouter, router, key } = await startUpstreamAndReferenceProxies(work, "threads");
  const targets = [
    { name: "pass-through", target: baseline, headers: { "content-type": "application/json" } },
    { name: "json proxy", target: jsonProxy, headers: { "content-type": "application/json" } },
    { name: "lean router", target: leanRouter, headers: authHeaders(key) },
    { name: "parrotrouter", target: router, headers: authHeaders(key) },
  ];
  const figures = new Map<string, Figures>(targets.map((t) => [t.name, { rps: [], busy: [], threads: new Map(), processes: new Map(), kernelSplit: new Map() }]));
  for (const t of targets) await runLoad({ url: t.target.url, headers: t.headers, body: REQUEST_BODY, connections: CONNECTIONS, seconds: 2 }); // warm-up

  for (let round = 0; round < rounds; round++) {
    for (const t of inTurn(targets, round)) {
      const processes = { [t.name]: t.target.pid, "fake upstream": upstream.target.pid, "load generator": process.pid };
      const before = new Map(Object.entries(processes).map(([name, pid]) => [name, threadTimes(pid)]));
      const machineBefore = machineCpuMs();
      const started = performance.now();
      const result = await runLoad({ url: t.target.url, headers: t.headers, body: REQUEST_BODY, connections: CONNECTIONS, seconds });
      const wallNs = (performance.now() - started) * 1e6;
      const machineAfter = machineCpuMs();
      if (result.failures > 0) throw new Error(`${t.name}: ${result.failures} failed requests`);
      const f = figures.get(t.name)!;
      f.rps.push(result.rps);
      f.busy.push((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total));
      for (const [processName, pid] of Object.entries(processes)) {
        let processNs = 0;
        const split = { userMs: 0, systemMs: 0, voluntarySwitches: 0, involuntarySwitches: 0 };
        for (const [tid, now] of threadTimes(pid)) {
          const then = before.get(processName)!.get(tid);
          if (!then) continue;
          const onCpuNs = now.onCpuNs - then.onCpuNs;
          processNs += onCpuNs;
          for (const field of Object.keys(split) as (keyof typeof split)[]) split[field] += now[field] - then[field];
          const row = `${processName} / ${now.name}`;
          if (!f.threads.has(row)) f.threads.set(row, { onCpu: [], waiting: [], usPerRequest: [], kernelUsPerRequest: [] });
          const thread = f.threads.get(row)!;
          thread.onCpu.push(onCpuNs / wallNs);
          thread.waiting.push((now.waitingNs - then.waitingNs) / wallNs);
          thread.usPerRequest.push(onCpuNs / 1000 / result.requests);
          thread.kernelUsPerRequest.push(((now.systemMs - then.systemMs) * 1000) / result.requests);
        }
        if (!f.processes.has(processName)) f.processes.set(processName, []);
        f.processes.get(processName)!.push(processNs / 1000 / result.requests);
        if (!f.kernelSplit.has(processName)) f.kernelSplit.set(processName, { userUs: [], systemUs: [], blocked: [], preempted: [] });
        const perRequest = f.kernelSplit.get(processName)!;
        perRequest.userUs.push((split.userMs * 1000) / result.requests);
        perRequest.systemUs.push((split.systemMs * 1000) / result.requests);
        perRequest.blocked.push(split.voluntarySwitches / result.requests);
        perRequest.preempted.push(split.involuntarySwitches / result.requests);
      }
    }
  }

  const cores = availableParallelism();
  console.log(`${rounds} rounds of ${seconds} s at ${CONNECTIONS} connections, targets taking turns; medians over the rounds\n`);
  console.log("| target | thread | on a CPU | waiting for a CPU | CPU µs per request | of it in the kernel (ticks) |\n|---|---|---:|---:|---:|---:|");
  for (const [name, f] of figures) {
    for (const [row, thread] of f.threads) {
      if (median(thread.onCpu) < SHOWN_ABOVE) continue;
      console.log(
        `| ${name} | ${row} | ${pct(median(thread.onCpu))} | ${pct(median(thread.waiting))} | ${median(thread.usPerRequest).toFixed(1)} | ${median(thread.kernelUsPerRequest).toFixed(1)} |`,
      );
    }
  }
  console.log(`\n| target | req/s | machine busy | CPU µs per request: target + fake upstream + load generator = all | req/s if all ${cores} cores were busy |\n|---|---:|---:|---|---:|`);
  const passRps = median(figures.get("pass-through")!.rps);
  for (const [name, f] of figures) {
    const parts = [...f.processes.values()].map((values) => median(values));
    const all = parts.reduce((a, b) => a + b, 0);
    const ceiling = (cores * 1e6) / all;
    console.log(
      `| ${name} | ${median(f.rps).toFixed(0)} (${(median(f.rps) / passRps).toFixed(2)} ×) | ${pct(median(f.busy))} | ${parts.map((p) => p.toFixed(1)).join(" + ")} = ${all.toFixed(1)} | ${ceiling.toFixed(0)} (${(ceiling / passRps).toFixed(2)} × the pass-through's req/s) |`,
    );
  }
  console.log("\n| target | process | user-space CPU µs per request | kernel CPU µs per request | blocked per request | preempted per request |\n|---|---|---:|---:|---:|---:|");
  for (const [name, f] of figures) {
    for (const [processName, perRequest] of f.kernelSplit) {
      console.log(
        `| ${name} | ${processName} | ${median(perRequest.userUs).toFixed(1)} | ${median(perRequest.systemUs).toFixed(1)} | ${median(perRequest.blocked).toFixed(2)} | ${median(perRequest.preempted).toFixed(2)} |`,
      );
    }
  }
} finally {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}

function pct(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}
