// A small Prometheus registry: labelled counters, gauges read at scrape time and
// histograms, rendered in the text exposition format (version 0.0.4). Kept in-house because
// the hot path only needs a Map lookup and an add per observation.

type Labels = Record<string, string>;

const renderedLabels = new Map<string, string>();
const MAX_CACHED_LABEL_SETS = 10_000;

/** `name="value",…` with Prometheus escaping; memoised, since the same few sets recur on every request. */
function labelKey(labels: Labels): string {
  let raw = "";
  for (const name in labels) raw += `${name}\u0000${labels[name]}\u0001`;
  let key = renderedLabels.get(raw);
  if (key === undefined) {
    key = Object.entries(labels)
      .map(([name, value]) => `${name}="${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`)
      .join(",");
    if (renderedLabels.size < MAX_CACHED_LABEL_SETS) renderedLabels.set(raw, key);
  }
  return key;
}

/** One labelled series of a counter, to add to without looking its labels up again. */
export interface CounterSeries {
  value: number;
}

export class Counter {
  private readonly values = new Map<string, CounterSeries>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  series(labels: Labels): CounterSeries {
    const key = labelKey(labels);
    let series = this.values.get(key);
    if (!series) {
      series = { value: 0 };
      this.values.set(key, series);
    }
    return series;
  }

  inc(labels: Labels, amount = 1): void {
    this.series(labels).value += amount;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    // A series looked up ahead (see Metrics.finished) but never added to is not shown.
    for (const [key, series] of this.values) if (series.value !== 0) lines.push(`${this.name}${key ? `{${key}}` : ""} ${series.value}`);
    return lines.join("\n");
  }
}

export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
    private readonly type: "gauge" | "counter" = "gauge",
  ) {}

  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`, `${this.name} ${this.read()}`].join("\n");
  }
}

/** One labelled series of a histogram. */
export class HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(private readonly buckets: number[]) {
    this.counts = new Array(buckets.length).fill(0);
  }

  observe(value: number): void {
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class Histogram {
  private readonly cells = new Map<string, HistogramSeries>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: number[],
  ) {}

  series(labels: Labels): HistogramSeries {
    const key = labelKey(labels);
    let series = this.cells.get(key);
    if (!series) {
      series = new HistogramSeries(this.buckets);
      this.cells.set(key, series);
    }
    return series;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [key, entry] of this.cells) {
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

export interface FinishedRequestSeries {
  requests: CounterSeries;
  duration: HistogramSeries;
  inputTokens: CounterSeries;
  outputTokens: CounterSeries;
  cachedInputTokens: CounterSeries;
  cost: CounterSeries;
  dbWrite: HistogramSeries;
}

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
  private readonly finishedSeries = new Map<string, FinishedRequestSeries>();
  private readonly firstByteSeries = new Map<string, HistogramSeries>();

  /**
   * The series a finished request adds to, looked up once per label combination (a handful
   * per configured model) rather than once per metric per request.
   */
  finished(endpoint: string, model: string, provider: string, status: number): FinishedRequestSeries {
    const id = `${endpoint}\u0000${model}\u0000${provider}\u0000${status}`;
    let series = this.finishedSeries.get(id);
    if (!series) {
      series = {
        requests: this.requests.series({ endpoint, model, provider, status: String(status) }),
        duration: this.requestDuration.series({ endpoint, model }),
        inputTokens: this.tokens.series({ model, direction: "input" }),
        outputTokens: this.tokens.series({ model, direction: "output" }),
        cachedInputTokens: this.tokens.series({ model, direction: "cached_input" }),
        cost: this.cost.series({ model }),
        dbWrite: this.dbWrite.series({}),
      };
      if (this.finishedSeries.size < MAX_CACHED_LABEL_SETS) this.finishedSeries.set(id, series);
    }
    return series;
  }

  /** The first-byte histogram of one provider, looked up once per provider. */
  upstreamFirstByteOf(provider: string): HistogramSeries {
    let series = this.firstByteSeries.get(provider);
    if (!series) {
      series = this.upstreamFirstByte.series({ provider });
      if (this.firstByteSeries.size < MAX_CACHED_LABEL_SETS) this.firstByteSeries.set(provider, series);
    }
    return series;
  }

  /** Registers a value read at scrape time (open holds, cached keys…); a total kept elsewhere is a `counter`. */
  gauge(name: string, help: string, read: () => number, type: "gauge" | "counter" = "gauge"): void {
    this.gauges.push(new Gauge(name, help, read, type));
  }

  render(): string {
    const parts = [this.requests, this.requestDuration, this.upstreamFirstByte, this.tokens, this.cost, this.upstreamErrors, this.dbWrite, ...this.gauges];
    return parts.map((p) => p.render()).join("\n") + "\n";
  }
}
