// Test seams for the router: a seeded random source and a sleep that records the waits
// instead of sleeping, so retry timing and weighted draws are asserted exactly.

import type { RouterSeams } from "../../src/routing/router";

/** mulberry32: a small, well-mixed 32-bit PRNG; the same seed gives the same draws. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RecordingSeams extends RouterSeams {
  /** Every wait the router asked for, in milliseconds, in order. */
  waits: number[];
}

/** Records waits and returns at once; `onSleep` can move a ManualClock by the wait. */
export function recordingSeams(options: { seed?: number; random?: () => number; onSleep?: (ms: number) => void } = {}): RecordingSeams {
  const waits: number[] = [];
  return {
    waits,
    random: options.random ?? seededRandom(options.seed ?? 1),
    sleep: async (ms, signal) => {
      if (signal.aborted) throw signal.reason;
      waits.push(ms);
      options.onSleep?.(ms);
    },
  };
}
