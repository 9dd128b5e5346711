// The one interface every upstream dialect implements. Clients always speak OpenAI's
// format to ParrotRouter; a provider translates to and from its upstream's wire format.

/** Token counts as the router bills them: whole, non-negative, safe integers (see usageFromCounts). */
export interface Usage {
  /** Prompt tokens, including cached ones. */
  inputTokens: number;
  /** Completion tokens. */
  outputTokens: number;
  /** Prompt tokens served from the upstream's cache (billed at the cached-input price). */
  cachedInputTokens: number;
}

/** An upstream count as billed: absent is 0, a fraction rounds up, anything else is NaN. */
function billableCount(value: unknown): number {
  if (value === undefined || value === null) return 0;
  return typeof value === "number" && value >= 0 ? Math.ceil(value) : Number.NaN;
}

function sumOfCounts(values: unknown[]): number {
  let total = 0;
  for (const value of values) total += billableCount(value);
  return total;
}

/**
 * The one way a provider turns an upstream's raw counts into a Usage (input and output as the
 * sums of their parts). Upstream counts are not trusted: a negative one would credit the
 * project, a fractional or non-finite one made the exact arithmetic throw and left the request
 * unsettled. Fractions round up; a negative, non-finite or non-numeric count, or a sum past
 * 2^53, makes the whole report null, so the request is billed on the estimate instead.
 */
export function usageFromCounts(input: unknown[], output: unknown[], cached: unknown): Usage | null {
  const usage = { inputTokens: sumOfCounts(input), outputTokens: sumOfCounts(output), cachedInputTokens: billableCount(cached) };
  // NaN and Infinity fail this too.
  const billable = Number.isSafeInteger(usage.inputTokens) && Number.isSafeInteger(usage.outputTokens) && Number.isSafeInteger(usage.cachedInputTokens);
  return billable ? usage : null;
}

/** One piece of an OpenAI-format stream, ready to be framed as `data: <json>\n\n`. */
export interface StreamChunk {
  /** The JSON text of one `chat.completion.chunk`, passed to the client as is. */
  data: string;
  /** The text this chunk adds (content, tool arguments), used to estimate usage on abort. */
  textDelta: string;
  /** Set on the chunk that carries the upstream's usage report. */
  usage?: Usage;
  /**
   * True when the chunk exists only to carry usage (OpenAI's final `choices: []` chunk);
   * it reaches the client only if the client asked for usage.
   */
  usageOnly?: boolean;
}

/** What the router hands a provider for one chat completion. */
export interface ChatCall {
  /** The client's OpenAI-format body with `model` already set to the upstream model name. */
  body: Record<string, unknown>;
  /** True when the client asked for a stream. */
  stream: boolean;
  /** Aborts the upstream request: client gone, timeout, shutdown. */
  signal: AbortSignal;
}

export type ChatResult =
  | {
      kind: "json";
      /** An OpenAI `chat.completion` object. */
      body: Record<string, unknown>;
      /** Usage as the upstream reported it, or null when it reported none (or none usable). */
      usage: Usage | null;
      /** The model name as the upstream reports it. */
      model: string;
    }
  | {
      kind: "stream";
      /** OpenAI-format chunks in order; ends when the upstream's stream ends, throws on failure. */
      chunks: AsyncIterable<StreamChunk>;
    };

/** What the router hands a provider for one embeddings request. */
export interface EmbedCall {
  /** The client's OpenAI-format body with `model` set to the upstream model name. */
  body: Record<string, unknown>;
  signal: AbortSignal;
}

export interface EmbedResult {
  /** An OpenAI `list` of `embedding` objects. */
  body: Record<string, unknown>;
  usage: Usage | null;
  model: string;
}

/** A provider adapter: one per upstream dialect, created once per configured provider. */
export interface Provider {
  /** Sends a chat completion. Throws `UpstreamError` when the upstream fails before its first byte. */
  chat(call: ChatCall): Promise<ChatResult>;
  /** Sends an embeddings request; absent when the dialect has no embeddings. */
  embed?(call: EmbedCall): Promise<EmbedResult>;
}

/** Settings every provider type shares, already validated by the config schema. */
export interface ProviderSettings {
  id: string;
  type: string;
  base_url?: string;
  api_key?: string;
  /** Extra headers sent upstream on every request (e.g. OpenAI-Organization). */
  headers?: Record<string, string>;
  /** Azure's `api-version` query parameter. */
  api_version?: string;
  /** Anthropic's `anthropic-version` header. */
  anthropic_version?: string;
  /** Milliseconds to wait for the upstream's first byte. */
  first_byte_timeout_ms: number;
  /** Milliseconds allowed between two stream chunks. */
  idle_timeout_ms: number;
  /** Mock only: delay before answering and between streamed chunks. */
  latency_ms?: number;
  chunk_delay_ms?: number;
}
