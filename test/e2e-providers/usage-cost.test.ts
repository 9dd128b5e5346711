// Usage and cost as the client sees them, per upstream: the body's usage (with cached prompt
// tokens), usage.cost and x-parrotrouter-cost-usd, and the same amount charged to the ledger.
// Anthropic's cache reads are priced at pricing.cached_input, cache writes as input.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eventually, ledgerState, requestRow } from "../credits/support";
import { startProviderWorld, type ProviderWorld, type Upstreams } from "./support";

let world: ProviderWorld;
beforeAll(async () => {
  world = await startProviderWorld();
});
afterAll(() => world.stop());

interface CostCase {
  model: string;
  /** Queues an answer (streamed or not) with known token counts. */
  answer(fakes: Upstreams, stream: boolean): void;
  /** True where ParrotRouter translates the stream's usage itself (pass-through streams are in test/credits). */
  translatedStream?: boolean;
  usage: { prompt_tokens: number; completion_tokens: number; cached_tokens: number };
  /** tokens × configured USD-per-million prices, in nano-USD (see support.ts for the prices). */
  costNanoUsd: number;
}

const COST_CASES: CostCase[] = [
  {
    model: "gpt-4o",
    answer: (f) => f.openai.enqueue({ kind: "ok", usage: { prompt_tokens: 1000, completion_tokens: 200, cached_tokens: 400 } }),
    usage: { prompt_tokens: 1000, completion_tokens: 200, cached_tokens: 400 },
    // 600 × 2.50 + 400 × 1.25 + 200 × 10 = 4000 USD per million tokens
    costNanoUsd: 4_000_000,
  },
  {
    model: "claude-sonnet",
    translatedStream: true,
    answer: (f, stream) =>
      f.anthropic.enqueue({ kind: stream ? "stream" : "ok", usage: { input_tokens: 1000, cache_read_input_tokens: 4000, cache_creation_input_tokens: 500, output_tokens: 200 } }),
    // prompt_tokens is Anthropic's uncached + cache read + cache write input
    usage: { prompt_tokens: 5500, completion_tokens: 200, cached_tokens: 4000 },
    // (1000 + 500) × 3 + 4000 × 0.30 + 200 × 15 = 8700
    costNanoUsd: 8_700_000,
  },
  {
    model: "gemini-flash",
    translatedStream: true,
    answer: (f, stream) =>
      f.gemini.enqueue({ kind: stream ? "stream" : "ok", usage: { promptTokenCount: 2000, cachedContentTokenCount: 1000, candidatesTokenCount: 300, thoughtsTokenCount: 100 } }),
    // thinking tokens are billed as output
    usage: { prompt_tokens: 2000, completion_tokens: 400, cached_tokens: 1000 },
    // 1000 × 0.30 + 1000 × 0.075 + 400 × 2.50 = 1375
    costNanoUsd: 1_375_000,
  },
  {
    model: "azure-4o",
    answer: (f) => f.azure.enqueue({ kind: "ok", usage: { prompt_tokens: 1000, completion_tokens: 100, cached_tokens: 200 } }),
    usage: { prompt_tokens: 1000, completion_tokens: 100, cached_tokens: 200 },
    // 800 × 2.50 + 200 × 1.25 + 100 × 10 = 3250
    costNanoUsd: 3_250_000,
  },
];

const messages = [{ role: "user" as const, content: "How much?" }];

describe.each(COST_CASES)("$model", (c) => {
  test("usage, usage.cost and x-parrotrouter-cost-usd agree with the prices and the ledger", async () => {
    const before = ledgerState(world.server, world.projectId).balance;
    c.answer(world.fakes, false);
    const { data, response } = await world.client.chat.completions.create({ model: c.model, messages }).withResponse();
    expect(data.usage).toMatchObject({
      prompt_tokens: c.usage.prompt_tokens,
      completion_tokens: c.usage.completion_tokens,
      total_tokens: c.usage.prompt_tokens + c.usage.completion_tokens,
      prompt_tokens_details: { cached_tokens: c.usage.cached_tokens },
    });
    expect((data.usage as unknown as { cost: number }).cost).toBe(c.costNanoUsd / 1e9);
    expect(response.headers.get("x-parrotrouter-cost-usd")).toBe((c.costNanoUsd / 1e9).toFixed(9));
    const after = ledgerState(world.server, world.projectId);
    expect(before - after.balance).toBe(c.costNanoUsd);
    expect(after.balance).toBe(after.sum);
    expect(response.headers.get("x-parrotrouter-balance-usd")).toBe((after.balance / 1e9).toFixed(9));
  });
});

describe.each(COST_CASES.filter((c) => c.translatedStream))("$model streamed", (c) => {
  test("a stream is charged from the usage the upstream reported at its end", async () => {
    c.answer(world.fakes, true);
    const { data: stream, response } = await world.client.chat.completions
      .create({ model: c.model, messages, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    let usage: unknown = null;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ prompt_tokens: c.usage.prompt_tokens, completion_tokens: c.usage.completion_tokens, prompt_tokens_details: { cached_tokens: c.usage.cached_tokens } });
    const requestId = response.headers.get("x-request-id")!;
    await eventually(() => requestRow(world.server, requestId) !== null);
    expect(requestRow(world.server, requestId)).toMatchObject({ cost_nano_usd: c.costNanoUsd, usage_source: "reported" });
  });
});

/** Counts no upstream can mean, in each translated dialect: estimated and charged, never credited. */
const BOGUS_USAGE_CASES = [
  { model: "claude-sonnet", what: "negative output_tokens", answer: (f: Upstreams, stream: boolean) => f.anthropic.enqueue({ kind: stream ? "stream" : "ok", usage: { input_tokens: 40, output_tokens: -90_000 } }) },
  { model: "claude-sonnet", what: "negative cache_read_input_tokens", answer: (f: Upstreams, stream: boolean) => f.anthropic.enqueue({ kind: stream ? "stream" : "ok", usage: { input_tokens: 40, cache_read_input_tokens: -5_000, output_tokens: 10 } }) },
  { model: "gemini-flash", what: "negative promptTokenCount", answer: (f: Upstreams, stream: boolean) => f.gemini.enqueue({ kind: stream ? "stream" : "ok", usage: { promptTokenCount: -1000, candidatesTokenCount: 10 } }) },
  { model: "gemini-flash", what: "promptTokenCount past 2^53", answer: (f: Upstreams, stream: boolean) => f.gemini.enqueue({ kind: stream ? "stream" : "ok", usage: { promptTokenCount: 1e20, candidatesTokenCount: 10 } }) },
];

describe.each(BOGUS_USAGE_CASES)("$model with $what", (c) => {
  test.each([false, true])("streamed: %p → estimated and charged a positive amount", async (stream) => {
    const before = ledgerState(world.server, world.projectId).balance;
    c.answer(world.fakes, stream);
    const { data, response } = await world.client.chat.completions.create({ model: c.model, messages, stream }).withResponse();
    if (stream) for await (const _ of data as AsyncIterable<unknown>) void _;
    const requestId = response.headers.get("x-request-id")!;
    await eventually(() => requestRow(world.server, requestId) !== null);
    const row = requestRow(world.server, requestId)!;
    expect(row).toMatchObject({ status: 200, usage_source: "estimated" });
    expect(row.cost_nano_usd).toBeGreaterThan(0);
    expect(before - ledgerState(world.server, world.projectId).balance).toBe(row.cost_nano_usd);
  });
});
