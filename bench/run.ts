// `npm run bench`: ParrotRouter (the compiled binary, every feature on) against a bare
// pass-through, side by side on 127.0.0.1 behind the same fake upstream, then the same with a
// database of 100k keys and 1M usage rows. Writes bench/RESULTS.md.
// Knobs: BENCH_SECONDS (per run, default 10; 2 is the quick mode), BENCH_STARTS (start-up
// trials, default 5), BENCH_SEED_KEYS / BENCH_SEED_ROWS, BENCH_OUT (results file).

import { Database } from "bun:sqlite";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { runLoad, runStreams, type LoadResult } from "./load";
import { cpuMs, describeMachine, machineCpuMs, memoryMb } from "./proc";
import { seedDatabase } from "./seed";
import { authHeaders, BINARY, createLiveKey, REQUEST_BODY, ROOT, startBaseline, startRouter, startUpstream, stopAll, STREAM_BODY, writeConfig, type Target } from "./targets";

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Math.max(1, Math.round(SECONDS / 5));
const STARTS = Number(env.BENCH_STARTS ?? 5);
const SEED_KEYS = Number(env.BENCH_SEED_KEYS ?? 100_000);
const SEED_ROWS = Number(env.BENCH_SEED_ROWS ?? 1_000_000);
const OUT = env.BENCH_OUT ?? join(import.meta.dir, "RESULTS.md");
const log = (line: string) => console.error(`[bench] ${line}`);

// ---- measurements ------------------------------------------------------------------------

interface Measured extends LoadResult {
  cpuMsPerRequest: number;
  /** CPU of the fake upstream and of this process (the load generator), per request. */
  harnessCpuMsPerRequest: number;
  /** Cores kept busy by anything else on the machine during the run: the noise. */
  otherCores: number;
  /** Highest VmRSS sampled during the run. */
  maxRssMb: number;
  /** VmHWM after the run: the process's peak so far. */
  peakRssMb: number;
}

type Scenario = { id: string; title: string; run: (target: Target, seconds: number) => Promise<LoadResult> };

async function measure(target: Target, upstream: Target, scenario: Scenario): Promise<Measured> {
  await scenario.run(target, WARMUP_SECONDS);
  const cpu = () => ({ target: cpuMs(target.pid), harness: cpuMs(upstream.pid) + cpuMs(process.pid), machine: machineCpuMs() });
  const before = cpu();
  let maxRssMb = memoryMb(target.pid).rss;
  const sampler = setInterval(() => (maxRssMb = Math.max(maxRssMb, memoryMb(target.pid).rss)), 100);
  const result = await scenario.run(target, SECONDS);
  clearInterval(sampler);
  const after = cpu();
  const memory = memoryMb(target.pid);
  const requests = Math.max(result.requests, 1);
  const targetMs = after.target - before.target;
  const harnessMs = after.harness - before.harness;
  const wallMs = (after.machine.total - before.machine.total) / availableParallelism();
  return {
    ...result,
    cpuMsPerRequest: targetMs / requests,
    harnessCpuMsPerRequest: harnessMs / requests,
    otherCores: Math.max(0, after.machine.busy - before.machine.busy - targetMs - harnessMs) / wallMs,
    maxRssMb: Math.max(maxRssMb, memory.rss),
    peakRssMb: memory.peak,
  };
}

/** Starts and stops the binary `STARTS` times: time to the first answered request, idle RSS. */
async function startupTrials(name: string, config: string, key: string) {
  const startMs: number[] = [];
  const idleRssMb: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    const router = await startRouter(name, BINARY, config, key);
    startMs.push(router.startMs);
    await Bun.sleep(1000);
    idleRssMb.push(memoryMb(router.pid).rss);
    await router.stop();
  }
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return { startMs: median(startMs), worstStartMs: Math.max(...startMs), idleRssMb: median(idleRssMb) };
}

// ---- the run -----------------------------------------------------------------------------

async function main(): Promise<boolean> {
  if (!existsSync(BINARY[0]!)) {
    log("building ./parrotrouter");
    const build = Bun.spawnSync([process.execPath, "run", "build"], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
    if (build.exitCode !== 0) throw new Error("build failed");
  }
  const work = mkdtempSync(join(tmpdir(), "parrotrouter-bench-"));
  try {
    const upstream = await startUpstream();
    const baseline = await startBaseline(upstream.target);

    // A real project and pr-live key, made with the CLI against a fresh database.
    const emptyDb = join(work, "empty.db");
    const emptyConfig = writeConfig(work, "empty", emptyDb, upstream.port);
    const key = createLiveKey(BINARY, emptyConfig);

    log(`seeding a copy with ${SEED_KEYS} keys and ${SEED_ROWS} usage rows`);
    const seededDb = join(work, "seeded.db");
    copyFileSync(emptyDb, seededDb);
    const seedStarted = performance.now();
    seedDatabase(seededDb, SEED_KEYS, SEED_ROWS);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const seededConfig = writeConfig(work, "seeded", seededDb, upstream.port);

    log("start-up trials");
    const startup = { empty: await startupTrials("router", emptyConfig, key), seeded: await startupTrials("router-seeded", seededConfig, key) };

    const router = await startRouter("parrotrouter", BINARY, emptyConfig, key);
    const seeded = await startRouter("parrotrouter (100k keys, 1M rows)", BINARY, seededConfig, key);
    await Bun.sleep(1000);
    const idle = { empty: memoryMb(router.pid).rss, seeded: memoryMb(seeded.pid).rss };

    const headers = authHeaders(key);
    const scenarios: Scenario[] = [
      { id: "c64", title: "non-streaming, 64 connections", run: (t, seconds) => runLoad({ url: t.url, headers, body: REQUEST_BODY, connections: 64, seconds }) },
      { id: "c1", title: "non-streaming, 1 connection", run: (t, seconds) => runLoad({ url: t.url, headers, body: REQUEST_BODY, connections: 1, seconds }) },
      { id: "ttfb", title: "streaming, 1 connection: time to first byte", run: (t, seconds) => runStreams({ url: t.url, headers, body: STREAM_BODY, seconds }) },
    ];
    const targets = [baseline, router, seeded];
    const results: Record<string, Record<string, Measured>> = {};
    for (const scenario of scenarios) {
      results[scenario.id] = {};
      for (const target of targets) {
        log(`${scenario.title}: ${target.name}`);
        results[scenario.id]![target.name] = await measure(target, upstream.target, scenario);
      }
    }
    await router.stop();
    await seeded.stop();

    // Every answered request left its usage row, and the ledger still adds up.
    const db = new Database(emptyDb, { readonly: true });
    const usageRows = db.query<{ n: number }, []>("SELECT count(*) AS n FROM requests WHERE status = 200").get()!.n;
    const ledgerOk = db.query<{ ok: number }, []>("SELECT (SELECT balance_nano_usd FROM projects WHERE name = 'bench') = (SELECT sum(amount_nano_usd) FROM ledger_entries l JOIN projects p ON p.id = l.project_id WHERE p.name = 'bench') AS ok").get()!.ok === 1;
    db.close();

    const report = renderReport({ scenarios, results, names: targets.map((t) => t.name), startup, idle, usageRows, ledgerOk, seedSeconds });
    writeReport(report.markdown);
    console.log(report.markdown);
    return report.healthy;
  } finally {
    await stopAll();
    rmSync(work, { recursive: true, force: true });
  }
}

// ---- the report --------------------------------------------------------------------------

interface ReportInput {
  scenarios: Scenario[];
  results: Record<string, Record<string, Measured>>;
  names: string[];
  startup: Record<"empty" | "seeded", { startMs: number; worstStartMs: number; idleRssMb: number }>;
  idle: Record<"empty" | "seeded", number>;
  usageRows: number;
  ledgerOk: boolean;
  seedSeconds: number;
}

const f = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

function renderReport(input: ReportInput): { markdown: string; healthy: boolean } {
  const { results, startup, idle } = input;
  const [base, pr, seeded] = input.names as [string, string, string];
  const lines: string[] = [];
  lines.push(`Generated ${new Date().toISOString()} by \`${env.BENCH_SECONDS ? `BENCH_SECONDS=${env.BENCH_SECONDS} ` : ""}npm run bench\` (${SECONDS} s per run after ${WARMUP_SECONDS} s of warm-up).`);
  lines.push(`Machine: ${describeMachine()}. Shared and noisy: compare the ratios, which were measured side by side in this run.`);
  lines.push("");
  lines.push("ParrotRouter is the compiled `./parrotrouter` with every feature on: a `pr-live` key made by the CLI, auth, credit hold, charge, usage row and hourly rollup in SQLite (WAL) for every request. Its log level is `warn`, so the one JSON line per request is not written: otherwise stdout logging, not routing, dominates.");
  lines.push(`The baseline (\`bench/baseline.ts\`) is a bare Bun.serve + fetch pass-through. Both sit in front of the same fake OpenAI upstream (\`bench/upstream.ts\`). Load: autocannon ${autocannonVersion()} (keep-alive, closed loop) for non-streaming; a sequential fetch client for streams (upstream chunks ${env.BENCH_STREAM_GAP_MS ?? 5} ms apart, TTFB = first body chunk).`);
  lines.push("");
  lines.push("| scenario | target | req/s | p50 ms | p99 ms | target CPU ms/req | upstream + load generator CPU ms/req | other load (cores) | max RSS during run MB | failures |");
  lines.push("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  let failures = 0;
  for (const scenario of input.scenarios) {
    for (const name of input.names) {
      const m = results[scenario.id]![name]!;
      failures += m.failures;
      lines.push(`| ${scenario.title} | ${name} | ${f(m.rps, 0)} | ${f(m.p50Ms, 3)} | ${f(m.p99Ms, 3)} | ${f(m.cpuMsPerRequest, 3)} | ${f(m.harnessCpuMsPerRequest, 3)} | ${f(m.otherCores)} | ${f(m.maxRssMb, 1)} | ${m.failures} |`);
    }
  }
  lines.push("");
  lines.push("| compiled binary | start → first answered chat request (median of " + STARTS + ", worst) | idle RSS MB | RSS under 64-connection load MB (VmHWM) |");
  lines.push("|---|---:|---:|---:|");
  lines.push(`| empty database | ${f(startup.empty.startMs, 0)} ms (${f(startup.empty.worstStartMs, 0)}) | ${f(idle.empty, 1)} | ${f(results.c64![pr]!.peakRssMb, 1)} |`);
  lines.push(`| ${SEED_KEYS} keys, ${SEED_ROWS} usage rows (seeded in ${f(input.seedSeconds, 1)} s) | ${f(startup.seeded.startMs, 0)} ms (${f(startup.seeded.worstStartMs, 0)}) | ${f(idle.seeded, 1)} | ${f(results.c64![seeded]!.peakRssMb, 1)} |`);
  lines.push("");
  lines.push(`Check: ${input.usageRows} usage rows written by the empty-database instance; its ledger sum ${input.ledgerOk ? "equals" : "DOES NOT equal"} the cached balance.`);
  lines.push("");

  const r = (id: string, name: string) => results[id]![name]!;
  const worse = (a: number, b: number, higherIsBetter: boolean) => (higherIsBetter ? (b - a) / b : (a - b) / b) * 100;
  const seededFigures: [string, number, number, boolean][] = [
    ["req/s at 64 connections", r("c64", seeded).rps, r("c64", pr).rps, true],
    ["p50 at 1 connection", r("c1", seeded).p50Ms, r("c1", pr).p50Ms, false],
    ["stream TTFB p50", r("ttfb", seeded).p50Ms, r("ttfb", pr).p50Ms, false],
    ["idle RSS", idle.seeded, idle.empty, false],
    ["RSS under load", r("c64", seeded).peakRssMb, r("c64", pr).peakRssMb, false],
    ["start → first answer", startup.seeded.startMs, startup.empty.startMs, false],
  ];
  const worst = seededFigures.reduce((w, [label, a, b, higher]) => (worse(a, b, higher) > w.pct ? { label, pct: worse(a, b, higher) } : w), { label: "none", pct: -Infinity });
  const targets: [string, string, boolean][] = [
    ["throughput at 64 connections ≥ 0.75 × pass-through", `${f(r("c64", pr).rps / r("c64", base).rps)} ×`, r("c64", pr).rps >= 0.75 * r("c64", base).rps],
    ["added p50 at 1 connection ≤ 0.15 ms", `${f(r("c1", pr).p50Ms - r("c1", base).p50Ms, 3)} ms`, r("c1", pr).p50Ms - r("c1", base).p50Ms <= 0.15],
    ["streaming TTFB p50 within 1 ms of pass-through", `${f(r("ttfb", pr).p50Ms - r("ttfb", base).p50Ms, 3)} ms`, r("ttfb", pr).p50Ms - r("ttfb", base).p50Ms <= 1],
    ["idle RSS ≤ 80 MB", `${f(idle.empty, 1)} MB`, idle.empty <= 80],
    ["RSS under load ≤ 150 MB", `${f(r("c64", pr).peakRssMb, 1)} MB`, r("c64", pr).peakRssMb <= 150],
    ["start → first answered request ≤ 200 ms", `${f(startup.empty.startMs, 0)} ms`, startup.empty.startMs <= 200],
    ["100k keys + 1M rows: no figure worse by > 10 %", `worst: ${worst.label} ${f(worst.pct, 1)} %`, worst.pct <= 10],
  ];
  lines.push("| target (every feature on) | measured | |");
  lines.push("|---|---:|---|");
  for (const [label, value, met] of targets) lines.push(`| ${label} | ${value} | ${met ? "met" : "**missed**"} |`);
  lines.push("");
  lines.push("ParrotRouter / pass-through in this run: " + input.scenarios.map((s) => `${s.id} req/s ${f(r(s.id, pr).rps / r(s.id, base).rps)} ×, CPU/req ${f(r(s.id, pr).cpuMsPerRequest / r(s.id, base).cpuMsPerRequest)} ×`).join("; ") + ".");
  return { markdown: lines.join("\n"), healthy: failures === 0 && input.ledgerOk };
}

function autocannonVersion(): string {
  return JSON.parse(readFileSync(join(ROOT, "node_modules/autocannon/package.json"), "utf8")).version;
}

/** Replaces the generated part of RESULTS.md, keeping the hand-written notes around it. */
function writeReport(markdown: string): void {
  const startMark = "<!-- generated:start -->";
  const endMark = "<!-- generated:end -->";
  const previous = existsSync(OUT) ? readFileSync(OUT, "utf8") : `# Benchmark results\n\n${startMark}\n${endMark}\n`;
  const from = previous.indexOf(startMark);
  const to = previous.indexOf(endMark);
  const next = from === -1 || to === -1 ? `${previous}\n${startMark}\n${markdown}\n${endMark}\n` : `${previous.slice(0, from + startMark.length)}\n${markdown}\n${previous.slice(to)}`;
  writeFileSync(OUT, next);
}

const healthy = await main().catch((error) => {
  console.error(error);
  return false;
});
process.exit(healthy ? 0 : 1);
