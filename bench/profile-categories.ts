// Sums a .cpuprofile's busy samples into the categories bench/RESULTS.md talks about, by
// walking each sample's stack: where the router's CPU goes, not which function is hottest.

interface CallFrame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

const settlement = /settle|flush|writeMany|^write$/;

/** First match wins; the last catches the rest. */
const CATEGORIES: [string, (stack: CallFrame[]) => boolean][] = [
  ["SQLite: applying settled rows to the ledger (background)", (s) => s.some((f) => f.url.includes("settlement-applier"))],
  ["SQLite settlement (usage-row commit)", (s) => s.some((f) => f.url.includes("bun:sqlite")) && s.some((f) => settlement.test(f.functionName))],
  ["SQLite other (data_version, key touch)", (s) => s.some((f) => f.url.includes("bun:sqlite"))],
  ["upstream fetch (native)", (s) => s[0]!.functionName === "fetch"],
  ["Response construction", (s) => s[0]!.functionName === "Response"],
  ["JSON parse/stringify", (s) => ["parse", "stringify"].includes(s[0]!.functionName)],
  ["metrics", (s) => s.some((f) => f.url.includes("/metrics/"))],
  ["abort plumbing (controllers, listeners, timers)", (s) => ["AbortController", "addEventListener", "setTimeout", "clearTimeout", "any"].includes(s[0]!.functionName)],
  ["auth (hash, key cache, client IP)", (s) => s.some((f) => f.url.includes("/keys/")) || s[0]!.functionName === "requestIP"],
  ["start-up (module loading)", (s) => s.some((f) => f.functionName === "(module)" || f.url.includes("typebox") || f.url.includes("/yaml/"))],
  ["other ParrotRouter JS", (s) => s.some((f) => f.url.includes("/src/"))],
  ["Elysia", (s) => s.some((f) => f.url.includes("elysia"))],
  ["native, unattributed (HTTP server, event loop, GC)", () => true],
];

export function summariseProfile(profile: { nodes: ProfileNode[]; samples: number[] }): { category: string; percent: number }[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const hits = new Map<number, number>();
  for (const sample of profile.samples) hits.set(sample, (hits.get(sample) ?? 0) + 1);
  const totals = new Map<string, number>();
  let busy = 0;
  for (const [id, count] of hits) {
    const stack: CallFrame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at)!.callFrame);
    // Waiting in the event loop is not work; "(program)" is time the profiler cannot place.
    if (stack[0]!.functionName === "(idle)" || stack[0]!.functionName === "(program)") continue;
    const [category] = CATEGORIES.find(([, matches]) => matches(stack))!;
    totals.set(category, (totals.get(category) ?? 0) + count);
    busy += count;
  }
  return CATEGORIES.map(([category]) => ({ category, percent: ((totals.get(category) ?? 0) / Math.max(busy, 1)) * 100 }));
}
