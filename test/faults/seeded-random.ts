// A small seedable random source for the fault fuzzers, so a failure replays exactly.

/** mulberry32: small, fast, seedable. Returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Text a response must never hold: stack frames and source file paths. */
export const STACK_TRACE = /\bat \S+\.(ts|js):\d+|\n\s+at \S|\.(ts|js|mjs):\d+:\d+|\/(src|node_modules)\/\S+\.(ts|js)/;
