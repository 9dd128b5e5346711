// `bun bench/compare.ts`: a quick side-by-side of the pass-through and ParrotRouter run from
// source (so a change can be tried without a build), BENCH_ROUNDS (default 3) alternating
// rounds of BENCH_SECONDS (default 4) at BENCH_CONNECTIONS (default 1). Prints req/s, p50 and
// CPU per request per round, and the medians. With BENCH_SEED_ROWS (and BENCH_SEED_KEYS) a
// second ParrotRouter runs on a seeded copy of the database. `npm run bench` remains the
// measurement of record.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, runLoad } from "./load";
import { cpuMs } from "./proc";
import { seedDatabase } from "./seed";
import { authHeaders, createLiveKey, REQUEST_BODY, SOURCE, startBaseline, startRouter, startUpstream, stopAll, writeConfig } from "./targets";

const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 1);
const work = mkdtempSync(join(tmpdir(), "parrotrouter-compare-"));
try {
  const upstream = await startUpstream();
  const baseline = await startBaseline(upstream.target);
  const config = writeConfig(work, "compare", join(work, "compare.db"), upstream.port);
  const key = createLiveKey(SOURCE, config);
  const seedRows = Number(process.env.BENCH_SEED_ROWS ?? 0);
  let seeded: Awaited<ReturnType<typeof startRouter>> | undefined;
  if (seedRows > 0) {
    // A copy of the database the key was made in, before any router opened it.
    const seededPath = join(work, "seeded.db");
    await Bun.write(seededPath, Bun.file(join(work, "compare.db")));
    seedDatabase(seededPath, Number(process.env.BENCH_SEED_KEYS ?? 100_000), seedRows);
    seeded = await startRouter("parrotrouter (source, seeded)", SOURCE, writeConfig(work, "seeded", seededPath, upstream.port), key);
  }
  const router = await startRouter("parrotrouter (source)", SOURCE, config, key);
  const seededRatios: number[] = [];
  const added: number[] = [];
  const ratios: number[] = [];
  const cpuAdded: number[] = [];
  /** Load on `target`, with the CPU it spent per request (µs). */
  const measured = async (target: { url: string; pid: number }, headers: Record<string, string>) => {
    const before = cpuMs(target.pid);
    const result = await runLoad({ url: target.url, headers, body: REQUEST_BODY, connections, seconds });
    return { ...result, cpuUs: ((cpuMs(target.pid) - before) * 1000) / result.requests };
  };
  for (let round = 0; round < rounds; round++) {
    const base = await measured(baseline, {});
    const ours = await measured(router, authHeaders(key));
    added.push(ours.p50Ms - base.p50Ms);
    ratios.push(ours.rps / base.rps);
    cpuAdded.push(ours.cpuUs - base.cpuUs);
    if (seeded) {
      const onSeeded = await measured(seeded, authHeaders(key));
      seededRatios.push(onSeeded.rps / ours.rps);
      console.log(`round ${round + 1}: seeded ${onSeeded.rps.toFixed(0)} req/s p50 ${onSeeded.p50Ms.toFixed(3)} ms ${onSeeded.cpuUs.toFixed(0)} µs CPU/req`);
    }
    console.log(
      `round ${round + 1}: baseline ${base.rps.toFixed(0)} req/s p50 ${base.p50Ms.toFixed(3)} ms ${base.cpuUs.toFixed(0)} µs CPU/req | ` +
        `parrotrouter ${ours.rps.toFixed(0)} req/s p50 ${ours.p50Ms.toFixed(3)} ms ${ours.cpuUs.toFixed(0)} µs CPU/req`,
    );
  }
  console.log(
    `${connections} connection(s): added p50 ${median(added) >= 0 ? "+" : ""}${median(added).toFixed(3)} ms, ` +
      `added CPU ${median(cpuAdded).toFixed(0)} µs/req, req/s ratio ${median(ratios).toFixed(2)} × (medians of ${rounds})` +
      (seeded ? `; seeded / empty req/s ${median(seededRatios).toFixed(3)} ×` : ""),
  );
} finally {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}
