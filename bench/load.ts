// The load: autocannon drives closed-loop keep-alive connections; latencies are taken from its
// per-response event (its own histogram keeps whole milliseconds, too coarse for a 0.15 ms
// target). Streaming time to first byte is timed by a small fetch client.

import autocannon from "autocannon";

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
}

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
