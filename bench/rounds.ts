// Throughput side by side when requests cannot be interleaved one by one (many connections):
// short rounds of autocannon load take turns, the pass-through first in each round and the
// others' order rotating, and each target's req/s is divided by the pass-through's of the same
// round, so the machine's drift falls on every target alike. Used by ab.ts and floor.ts.

import { median, runLoad } from "./load";
import { cpuMs } from "./proc";
import { REQUEST_BODY } from "./targets";

export interface RoundTarget {
  name: string;
  url: string;
  pid: number;
  headers: Record<string, string>;
}

export interface RoundFigures {
  /** Per round: req/s over the pass-through's. */
  ratios: number[];
  /** Per round: CPU µs the target spent per request (from /proc). */
  cpuUs: number[];
}

export interface RoundsSpec {
  connections: number;
  rounds: number;
  seconds: number;
}

/** `list` in the order of round `round`: who goes first moves one place each round. */
export function inTurn<T>(list: T[], round: number): T[] {
  return list.map((_, i) => list[(i + round) % list.length]!);
}

/** Runs the rounds and prints each target's medians; returns the per-round figures by target. */
export async function alternatingRounds(pass: RoundTarget, others: RoundTarget[], spec: RoundsSpec): Promise<Map<RoundTarget, RoundFigures>> {
  const figures = new Map<RoundTarget, RoundFigures>([pass, ...others].map((target) => [target, { ratios: [], cpuUs: [] }]));
  for (let round = 0; round < spec.rounds; round++) {
    const rotated = inTurn(others, round);
    let passRps = NaN;
    for (const target of [pass, ...rotated]) {
      const before = cpuMs(target.pid);
      const result = await runLoad({ url: target.url, headers: target.headers, body: REQUEST_BODY, connections: spec.connections, seconds: spec.seconds });
      if (result.failures > 0) throw new Error(`${target.name}: ${result.failures} failed requests`);
      if (target === pass) passRps = result.rps;
      figures.get(target)!.ratios.push(result.rps / passRps);
      figures.get(target)!.cpuUs.push(((cpuMs(target.pid) - before) * 1000) / result.requests);
    }
  }
  console.log(`${spec.rounds} rounds of ${spec.seconds} s at ${spec.connections} connections; medians over the rounds`);
  for (const [target, { ratios, cpuUs }] of figures) {
    console.log(`${target.name.padEnd(20)} req/s ${median(ratios).toFixed(3)} × the pass-through, CPU ${median(cpuUs).toFixed(1)} µs/request`);
  }
  return figures;
}
