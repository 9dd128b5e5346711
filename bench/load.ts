// The load: autocannon drives closed-loop keep-alive connections; latencies are taken from its
// per-response event (its own histogram keeps whole milliseconds, too coarse for a 0.15 ms
// target). Streaming time to first byte is timed by a small fetch client. wrk, when installed,
// drives the same non-streaming load as a cross-check: written in C, it spends a fraction of
// autocannon's CPU per request on a machine whose two cores the targets share with it.

import autocannon from "autocannon";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface LoadSpec {
  url: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Errors and non-2xx answers: any is a broken run. */
  failures: number;
  /** CPU the load generator spent, when it ran as a process of its own (wrk). */
  generatorCpuMs?: number;
}

/** The middle value (the upper one of an even count): how every figure over rounds is reported. */
export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

class Samples {
  private values = new Float64Array(1 << 16);
  private count = 0;
  add(value: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = value;
  }
  sorted(): Float64Array {
    return this.values.slice(0, this.count).sort();
  }
}

/** Non-streaming requests at `connections` concurrent keep-alive connections for `seconds`. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const latencies = new Samples();
  const instance = autocannon({
    url: spec.url,
    method: "POST",
    headers: spec.headers,
    body: spec.body,
    connections: spec.connections,
    duration: spec.seconds,
  });
  instance.on("response", (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => latencies.add(responseTimeMs));
  const result = await instance;
  const sorted = latencies.sorted();
  return {
    requests: result.requests.total,
    rps: result.requests.total / spec.seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    failures: result.errors + result.timeouts + result.non2xx,
  };
}

/** Streams one after another for `seconds`; the time to the first body chunk of each. */
export async function runStreams(spec: Omit<LoadSpec, "connections">): Promise<LoadResult> {
  const ttfb = new Samples();
  let requests = 0;
  let failures = 0;
  const started = performance.now();
  const endAt = started + spec.seconds * 1000;
  while (performance.now() < endAt) {
    const sentAt = performance.now();
    const response = await fetch(spec.url, { method: "POST", headers: spec.headers, body: spec.body });
    const reader = response.body!.getReader();
    const first = await reader.read();
    ttfb.add(performance.now() - sentAt);
    const text = first.done ? "" : new TextDecoder().decode(first.value);
    if (!response.ok || !text.startsWith("data: ")) failures++;
    while (!(await reader.read()).done) {}
    requests++;
  }
  const sorted = ttfb.sorted();
  const seconds = (performance.now() - started) / 1000;
  return { requests, rps: requests / seconds, p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), failures };
}

/** True when `wrk` is on PATH (Debian: `apt install wrk`). */
export function wrkInstalled(): boolean {
  return Bun.which("wrk") !== null;
}

/**
 * `runLoad` with wrk (one thread). Its Lua script sets the method, body and headers, and its
 * `done` hook prints the counts and the latency percentiles (in µs) as one JSON line.
 */
export async function runWrk(spec: LoadSpec): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), "parrotrouter-wrk-"));
  try {
    const script = join(dir, "post.lua");
    writeFileSync(
      script,
      [
        `wrk.method = "POST"`,
        `wrk.body = ${JSON.stringify(spec.body)}`,
        ...Object.entries(spec.headers).map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`),
        `done = function(summary, latency, requests)`,
        `  local e = summary.errors`,
        `  io.write(string.format('{"requests":%d,"micros":%d,"p50":%d,"p99":%d,"failures":%d}\\n', summary.requests, summary.duration,`,
        `    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout + e.status))`,
        `end`,
      ].join("\n"),
    );
    const wrk = Bun.spawn(["wrk", "-t1", `-c${spec.connections}`, `-d${spec.seconds}s`, "-s", script, spec.url], { stdout: "pipe", stderr: "pipe" });
    const output = await new Response(wrk.stdout).text();
    if ((await wrk.exited) !== 0) throw new Error(`wrk failed: ${await new Response(wrk.stderr).text()}`);
    const line = output.split("\n").find((l) => l.startsWith('{"requests"'));
    if (!line) throw new Error(`wrk printed no summary: ${output}`);
    const summary = JSON.parse(line) as { requests: number; micros: number; p50: number; p99: number; failures: number };
    const usage = wrk.resourceUsage()!;
    return {
      requests: summary.requests,
      rps: summary.requests / (summary.micros / 1e6),
      p50Ms: summary.p50 / 1000,
      p99Ms: summary.p99 / 1000,
      failures: summary.failures,
      generatorCpuMs: Number(usage.cpuTime.user + usage.cpuTime.system) / 1000,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
