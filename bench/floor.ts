// `bun bench/floor.ts`: how much of ParrotRouter's distance from the pass-through at 64
// connections any billing proxy pays, and how much is its own. Four targets behind the same
// fake upstream, in rounds that take turns (bench/rounds.ts): the bare pass-through, the
// JSON-reading proxy (bench/json-proxy.ts: parse, re-serialise, add the cost, nothing else),
// the lean router (bench/lean-router.ts: the targets' promises kept, flat, in one file) and
// ParrotRouter from source with every feature on. BENCH_CONNECTIONS (default 64),
// BENCH_ROUNDS (default 8), BENCH_SECONDS (default 2).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { alternatingRounds } from "./rounds";
import { authHeaders, startUpstreamAndReferenceProxies, stopAll } from "./targets";

const work = mkdtempSync(join(tmpdir(), "parrotrouter-floor-"));
try {
  const { baseline, jsonProxy, leanRouter, router, key } = await startUpstreamAndReferenceProxies(work, "floor");
  const json = { "content-type": "application/json" };
  await alternatingRounds(
    { name: "pass-through", url: baseline.url, pid: baseline.pid, headers: json },
    [
      { name: "json proxy", url: jsonProxy.url, pid: jsonProxy.pid, headers: json },
      { name: "lean router", url: leanRouter.url, pid: leanRouter.pid, headers: authHeaders(key) },
      { name: "parrotrouter", url: router.url, pid: router.pid, headers: authHeaders(key) },
    ],
    {
      connections: Number(process.env.BENCH_CONNECTIONS ?? 64),
      rounds: Number(process.env.BENCH_ROUNDS ?? 8),
      seconds: Number(process.env.BENCH_SECONDS ?? 2),
    },
  );
} finally {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}
