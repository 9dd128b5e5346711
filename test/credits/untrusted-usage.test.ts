// Upstream token counts are checked before anything is billed from them: a negative, non-finite
// or absurd count is no report at all (the request is estimated), a fractional one rounds up.

import { beforeAll, describe, expect, test } from "bun:test";
import { costOfUsage } from "../../src/credits/pricing";
import { estimatePromptTokens } from "../../src/shared/tokens";
import type { FakeOpenAI } from "../fakes/openai";
import { pricedModelConfig, projectClient, withFakeOpenAI } from "../support/fake-openai-server";
import type { TestServer } from "../support/server";
import { eventually, ledgerState, requestRow } from "./support";

let fake: FakeOpenAI;
let server: TestServer;
const world = withFakeOpenAI((fakeUrl) => pricedModelConfig(fakeUrl, { input: 3, output: 7 }));
beforeAll(() => ({ fake, server } = world));

const messages = [{ role: "user" as const, content: "count honestly" }];
const pricing = { inputNanoPerMillion: 3_000_000_000, outputNanoPerMillion: 7_000_000_000, cachedInputNanoPerMillion: 3_000_000_000 };

const newKey = () => projectClient(server, "untrusted", 1);

/**
 * Counts no upstream can mean: each must leave the request estimated and charged, never
 * credited. `usage` is in the fake's terms; a stream's usage chunk carries `wire` as is.
 */
const BOGUS_USAGE: { name: string; usage: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number }; wire?: Record<string, unknown> }[] = [
  { name: "a negative prompt count", usage: { prompt_tokens: -1000, completion_tokens: 5 } },
  { name: "a negative completion count", usage: { prompt_tokens: 10, completion_tokens: -50_000 } },
  {
    name: "a negative cached count",
    usage: { prompt_tokens: 10, completion_tokens: 5, cached_tokens: -1_000_000 },
    wire: { prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: -1_000_000 } },
  },
  { name: "a count past 2^53", usage: { prompt_tokens: 1e20, completion_tokens: 5 } },
];

describe.each(BOGUS_USAGE)("$name", ({ usage, wire }) => {
  test("non-streaming: estimated, charged a positive amount, 200", async () => {
    const { client, project } = newKey();
    fake.enqueue({ kind: "ok", usage });
    const body = { model: "priced", messages };
    const { response } = await client.chat.completions.create(body).withResponse();
    const row = requestRow(server, response.headers.get("x-request-id")!)!;
    expect(row).toMatchObject({ status: 200, usage_source: "estimated", input_tokens: estimatePromptTokens(body) });
    expect(row.cost_nano_usd).toBeGreaterThan(0);
    const state = ledgerState(server, project.id);
    expect(state.balance).toBe(1_000_000_000 - row.cost_nano_usd);
    expect(state.balance).toBe(state.sum);
  });

  test("streaming: estimated, charged a positive amount", async () => {
    const { key, project } = newKey();
    // The fake spreads a stream's usage into its usage chunk as given.
    fake.enqueue({ kind: "stream", chunks: ["some", " words"], usage: (wire ?? usage) as { prompt_tokens: number; completion_tokens: number } });
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.key}` },
      body: JSON.stringify({ model: "priced", messages, stream: true }),
    });
    const text = await response.text();
    // The unusable usage chunk is still a usage chunk: not for a client that did not ask.
    expect(text).not.toContain('"choices":[]');
    const requestId = response.headers.get("x-request-id")!;
    await eventually(() => requestRow(server, requestId) !== null);
    const row = requestRow(server, requestId)!;
    expect(row).toMatchObject({ status: 200, usage_source: "estimated" });
    expect(row.cost_nano_usd).toBeGreaterThan(0);
    expect(ledgerState(server, project.id).balance).toBe(1_000_000_000 - row.cost_nano_usd);
  });
});

describe("fractional counts round up and stay reported", () => {
  // 10.3 × the input price is no safe integer: unchecked, the exact path's BigInt threw.
  const rounded = { inputTokens: 11, outputTokens: 3, cachedInputTokens: 0 };

  test("non-streaming: charged, not answered 200 with a failed settlement behind it", async () => {
    const { client, project } = newKey();
    fake.enqueue({ kind: "ok", usage: { prompt_tokens: 10.3, completion_tokens: 2.01 } });
    const { response } = await client.chat.completions.create({ model: "priced", messages }).withResponse();
    const row = requestRow(server, response.headers.get("x-request-id")!);
    expect(row).toMatchObject({ status: 200, usage_source: "reported", input_tokens: 11, output_tokens: 3, cost_nano_usd: costOfUsage(rounded, pricing) });
    expect(ledgerState(server, project.id).balance).toBe(1_000_000_000 - costOfUsage(rounded, pricing));
  });

  test("streaming: charged from the rounded counts", async () => {
    const { key } = newKey();
    fake.enqueue({ kind: "stream", chunks: ["a"], usage: { prompt_tokens: 10.5, completion_tokens: 2.01 } });
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.key}` },
      body: JSON.stringify({ model: "priced", messages, stream: true }),
    });
    await response.text();
    const requestId = response.headers.get("x-request-id")!;
    await eventually(() => requestRow(server, requestId) !== null);
    expect(requestRow(server, requestId)).toMatchObject({
      usage_source: "reported",
      input_tokens: 11,
      output_tokens: 3,
      cost_nano_usd: costOfUsage({ inputTokens: 11, outputTokens: 3, cachedInputTokens: 0 }, pricing),
    });
  });
});

describe("costOfUsage on counts that slipped past every check", () => {
  test("never negative, never throws", () => {
    const bad = [-1000, -0.5, 0.5, 1e12 + 0.5, 1e30, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
    for (const count of bad) {
      for (const usage of [
        { inputTokens: count, outputTokens: 5, cachedInputTokens: 0 },
        { inputTokens: 5, outputTokens: count, cachedInputTokens: 0 },
        { inputTokens: 5, outputTokens: 5, cachedInputTokens: count },
      ]) {
        const cost = costOfUsage(usage, pricing);
        expect(Number.isInteger(cost)).toBe(true);
        expect(cost).toBeGreaterThanOrEqual(0);
      }
    }
    // A fraction is billed as the whole token it is part of.
    expect(costOfUsage({ inputTokens: 0.5, outputTokens: 0, cachedInputTokens: 0 }, pricing)).toBe(3000);
  });
});
