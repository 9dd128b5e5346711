// A small Prometheus registry: labelled counters, gauges read at scrape time and
// histograms, rendered in the text exposition format (version 0.0.4). Kept in-house because
// the hot path only needs a Map lookup and an add per observation.

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  return Object.entries(labels)
    .map(([name, value]) => `${name}="${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`)
    .join(",");
}

export class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Labels, amount = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + amount);
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [key, value] of this.values) lines.push(`${this.name}${key ? `{${key}}` : ""} ${value}`);
    return lines.join("\n");
  }
}

export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
  ) {}

  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`].join("\n");
  }
}

export class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: number[],
  ) {}

  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, entry);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) entry.counts[i]!++;
    entry.sum += value;
    entry.count++;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [key, entry] of this.series) {
      const prefix = key ? `${key},` : "";
      this.buckets.forEach((bound, i) => lines.push(`${this.name}_bucket{${prefix}le="${bound}"} ${entry.counts[i]}`));
      lines.push(`${this.name}_bucket{${prefix}le="+Inf"} ${entry.count}`);
      lines.push(`${this.name}_sum${key ? `{${key}}` : ""} ${entry.sum}`);
      lines.push(`${this.name}_count${key ? `{${key}}` : ""} ${entry.count}`);
    }
    return lines.join("\n");
  }
}

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const DB_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

/** Every metric ParrotRouter exports. */
export class Metrics {
  readonly requests = new Counter("parrotrouter_requests_total", "Finished API requests by endpoint, model, provider and status.");
  readonly requestDuration = new Histogram("parrotrouter_request_duration_seconds", "Total request latency, from arrival to last byte.", SECONDS_BUCKETS);
  readonly upstreamFirstByte = new Histogram("parrotrouter_upstream_first_byte_seconds", "Upstream time to first byte (response headers).", SECONDS_BUCKETS);
  readonly tokens = new Counter("parrotrouter_tokens_total", "Tokens by model and direction (input, output, cached_input).");
  readonly cost = new Counter("parrotrouter_cost_usd_total", "Charged cost in USD by model.");
  readonly upstreamErrors = new Counter("parrotrouter_upstream_errors_total", "Failed upstream attempts by provider and error code.");
  readonly dbWrite = new Histogram("parrotrouter_db_write_seconds", "Duration of the settlement write transaction.", DB_BUCKETS);
  private readonly gauges: Gauge[] = [];

  /** Registers a value read at scrape time (open holds, cached keys…). */
  gauge(name: string, help: string, read: () => number): void {
    this.gauges.push(new Gauge(name, help, read));
  }

  render(): string {
    const parts = [this.requests, this.requestDuration, this.upstreamFirstByte, this.tokens, this.cost, this.upstreamErrors, this.dbWrite, ...this.gauges];
    return parts.map((p) => p.render()).join("\n") + "\n";
  }
}
