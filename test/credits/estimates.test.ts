// Charges estimated when the upstream reports no usage: a stream or answer without usage, a
// client that leaves mid-stream or before the answer. An estimate never exceeds the request's
// hold, and an upstream failure is never charged.

import { beforeAll, describe, expect, test } from "bun:test";
import { costOfUsage, worstCaseCost } from "../../src/credits/pricing";
import { estimateEmbeddingTokens, estimatePromptTokens, estimateTextTokens } from "../../src/shared/tokens";
import type { FakeOpenAI } from "../fakes/openai";
import { PRICED_MODEL_PRICING, pricedModelConfig, projectClient, withFakeOpenAI } from "../support/fake-openai-server";
import type { TestServer } from "../support/server";
import { eventually, ledgerState, requestRow, requestRowsOfKey } from "./support";

let fake: FakeOpenAI;
let server: TestServer;
const world = withFakeOpenAI((fakeUrl) =>
  pricedModelConfig(fakeUrl, {
    failingProviders: true,
    extraModels: `
  embed:
    routes: [up/text-embedding-3-small]
    pricing: { input: 10 }`,
  }),
);
beforeAll(() => ({ fake, server } = world));

const messages = [{ role: "user" as const, content: "estimate me" }];
const pricing = PRICED_MODEL_PRICING;
/** A text delta of 100 estimated tokens: an upstream that ignores max_tokens sends many. */
const LONG_DELTA = "x".repeat(400);

const newKey = (creditsUsd = 1) => projectClient(server, "estimates", creditsUsd);

function post(key: { key: string }, path: string, body: Record<string, unknown>, signal?: AbortSignal) {
  return fetch(`${server.baseURL}${path}`, { method: "POST", headers: { authorization: `Bearer ${key.key}` }, body: JSON.stringify(body), signal });
}

async function rowOf(response: Response) {
  const requestId = response.headers.get("x-request-id")!;
  await eventually(() => requestRow(server, requestId) !== null);
  return requestRow(server, requestId)!;
}

/** The one row of a request whose client left before its headers. */
async function onlyRowOf(keyId: string) {
  await eventually(() => requestRowsOfKey(server, keyId).length === 1);
  return requestRowsOfKey(server, keyId)[0]!;
}

describe("estimated output is capped at the request's output allowance", () => {
  test("a client abort on a stream that outruns max_tokens is charged no more than its hold", async () => {
    const { key, project } = newKey();
    fake.enqueue({ kind: "stream", chunks: Array.from({ length: 40 }, () => LONG_DELTA), delayMs: 20, sendUsage: false });
    const body = { model: "priced", messages, stream: true, max_tokens: 5 };
    const controller = new AbortController();
    const response = await post(key, "/chat/completions", body, controller.signal);
    const reader = response.body!.getReader();
    for (let i = 0; i < 5; i++) await reader.read();
    controller.abort();
    const row = await rowOf(response);
    const holdNanoUsd = worstCaseCost(estimatePromptTokens(body), 5, pricing);
    expect(row).toMatchObject({ status: 499, usage_source: "estimated", output_tokens: 5 });
    expect(row.cost_nano_usd).toBe(holdNanoUsd);
    expect(ledgerState(server, project.id).balance).toBe(1_000_000_000 - holdNanoUsd);
  });

  test("a completed stream without usage that outruns max_tokens: estimate capped, never above the hold", async () => {
    const { key } = newKey();
    fake.enqueue({ kind: "stream", chunks: Array.from({ length: 10 }, () => LONG_DELTA), sendUsage: false });
    const body = { model: "priced", messages, stream: true, max_tokens: 5 };
    const response = await post(key, "/chat/completions", body);
    await response.text();
    const row = await rowOf(response);
    expect(row).toMatchObject({ status: 200, usage_source: "estimated", output_tokens: 5 });
    expect(row.cost_nano_usd).toBe(worstCaseCost(estimatePromptTokens(body), 5, pricing));
  });

  test("n choices multiply the allowance the estimate is capped at", async () => {
    const { key } = newKey();
    fake.enqueue({ kind: "stream", chunks: Array.from({ length: 10 }, () => LONG_DELTA), sendUsage: false });
    const response = await post(key, "/chat/completions", { model: "priced", messages, stream: true, max_tokens: 5, n: 2 });
    await response.text();
    expect((await rowOf(response)).output_tokens).toBe(10);
  });

  test("a non-streaming answer without usage that outruns max_tokens: estimate capped", async () => {
    const { client } = newKey();
    fake.enqueue({ kind: "ok", text: LONG_DELTA.repeat(10), usage: null });
    const body = { model: "priced", messages, max_tokens: 5 };
    const { response } = await client.chat.completions.create(body).withResponse();
    const row = requestRow(server, response.headers.get("x-request-id")!)!;
    expect(row).toMatchObject({ status: 200, usage_source: "estimated", output_tokens: 5 });
    expect(row.cost_nano_usd).toBe(worstCaseCost(estimatePromptTokens(body), 5, pricing));
  });
});

describe("no usage from the upstream: estimated and charged", () => {
  test("a completed stream with no usage chunk is recorded estimated and charged for prompt and text", async () => {
    const { key, project } = newKey();
    fake.enqueue({ kind: "stream", chunks: ["Hello", " from", " the", " fake", " stream."], sendUsage: false });
    const body = { model: "priced", messages, stream: true };
    const response = await post(key, "/chat/completions", body);
    expect(await response.text()).toContain("data: [DONE]");
    const row = await rowOf(response);
    const usage = { inputTokens: estimatePromptTokens(body), outputTokens: estimateTextTokens("Hello from the fake stream."), cachedInputTokens: 0 };
    expect(row).toMatchObject({ status: 200, usage_source: "estimated", input_tokens: usage.inputTokens, output_tokens: usage.outputTokens });
    expect(row.cost_nano_usd).toBe(costOfUsage(usage, pricing));
    expect(row.cost_nano_usd).toBeGreaterThan(0);
    expect(ledgerState(server, project.id).balance).toBe(1_000_000_000 - row.cost_nano_usd);
  });

  test("a non-streaming answer without usage is recorded estimated and charged", async () => {
    const { client, project } = newKey();
    fake.enqueue({ kind: "ok", text: "An answer the upstream did not count.", usage: null });
    const body = { model: "priced", messages };
    const { response } = await client.chat.completions.create(body).withResponse();
    const row = requestRow(server, response.headers.get("x-request-id")!)!;
    expect(row).toMatchObject({ status: 200, usage_source: "estimated", input_tokens: estimatePromptTokens(body) });
    expect(row.output_tokens).toBeGreaterThan(0);
    expect(row.cost_nano_usd).toBe(costOfUsage({ inputTokens: row.input_tokens, outputTokens: row.output_tokens, cachedInputTokens: 0 }, pricing));
    expect(response.headers.get("x-parrotrouter-cost-usd")).toBe((row.cost_nano_usd / 1e9).toFixed(9));
    expect(ledgerState(server, project.id).balance).toBe(1_000_000_000 - row.cost_nano_usd);
  });

  test("an explicit zero in a stream's usage chunk is charged exactly 0 and recorded reported", async () => {
    const { key, project } = newKey();
    fake.enqueue({ kind: "stream", chunks: ["some", " text"], usage: { prompt_tokens: 0, completion_tokens: 0 } });
    const response = await post(key, "/chat/completions", { model: "priced", messages, stream: true });
    await response.text();
    expect(await rowOf(response)).toMatchObject({ status: 200, usage_source: "reported", input_tokens: 0, output_tokens: 0, cost_nano_usd: 0 });
    expect(ledgerState(server, project.id)).toMatchObject({ balance: 1_000_000_000, charges: [] });
  });
});

/** Sends, goes away once the upstream has the request, and returns the request's only usage row. */
async function leaveAfterForwarding(key: { id: string; key: string }, path: string, body: Record<string, unknown>) {
  const controller = new AbortController();
  const pending = post(key, path, body, controller.signal).catch(() => "aborted");
  await eventually(() => fake.requests.length === 1);
  controller.abort();
  expect(await pending).toBe("aborted");
  return onlyRowOf(key.id);
}

describe("a client that leaves before the answer pays for the prompt the upstream read", () => {
  test("streaming: gone after forwarding, before the first content chunk → 499, prompt estimated and charged", async () => {
    const { key, project } = newKey();
    fake.enqueue({ kind: "stream", chunks: ["late"], stallAfter: 0 });
    const body = { model: "priced", messages, stream: true };
    const row = await leaveAfterForwarding(key, "/chat/completions", body);
    const inputTokens = estimatePromptTokens(body);
    expect(row).toMatchObject({ status: 499, usage_source: "estimated", input_tokens: inputTokens, output_tokens: 0, provider: "up" });
    expect(row.cost_nano_usd).toBe(costOfUsage({ inputTokens, outputTokens: 0, cachedInputTokens: 0 }, pricing));
    expect(ledgerState(server, project.id).balance).toBe(1_000_000_000 - row.cost_nano_usd);
    await eventually(() => server.runtime.credits.openHolds() === 0);
    await eventually(() => fake.openStreams() === 0);
  });

  test("non-streaming: gone while the upstream works → 499, prompt estimated and charged", async () => {
    const { key } = newKey();
    fake.enqueue({ kind: "ok", delayMs: 2000 });
    const body = { model: "priced", messages };
    const row = await leaveAfterForwarding(key, "/chat/completions", body);
    const inputTokens = estimatePromptTokens(body);
    expect(row).toMatchObject({ status: 499, usage_source: "estimated", input_tokens: inputTokens, output_tokens: 0 });
    expect(row.cost_nano_usd).toBe(costOfUsage({ inputTokens, outputTokens: 0, cachedInputTokens: 0 }, pricing));
  });

  test("non-streaming: the upstream connection is closed whether the client left at once or after a while", async () => {
    const { key } = newKey();
    const before = fake.abandonedHangs();
    fake.enqueue({ kind: "hang" });
    // Gone at once: before the upstream call starts following the client (it begins 50 ms in).
    expect(await leaveAfterForwarding(key, "/chat/completions", { model: "priced", messages })).toMatchObject({ status: 499 });
    await eventually(() => fake.abandonedHangs() === before + 1);
    fake.reset();
    fake.enqueue({ kind: "hang" });
    const controller = new AbortController();
    const pending = post(key, "/chat/completions", { model: "priced", messages }, controller.signal).catch(() => "aborted");
    await eventually(() => fake.requests.length === 1);
    await Bun.sleep(150); // well after the follow began
    controller.abort();
    expect(await pending).toBe("aborted");
    await eventually(() => fake.abandonedHangs() === before + 2);
    await eventually(() => server.runtime.credits.openHolds() === 0);
  });

  test("embeddings: gone while the upstream works → 499, input estimated and charged", async () => {
    const { key } = newKey();
    fake.enqueue({ kind: "hang" });
    const row = await leaveAfterForwarding(key, "/embeddings", { model: "embed", input: "embed this sentence" });
    const inputTokens = estimateEmbeddingTokens("embed this sentence");
    expect(row).toMatchObject({ status: 499, usage_source: "estimated", input_tokens: inputTokens });
    expect(row.cost_nano_usd).toBe(costOfUsage({ inputTokens, outputTokens: 0, cachedInputTokens: 0 }, pricing));
  });

  test("an upstream failure is still charged nothing: 5xx, first-byte timeout, connection refused", async () => {
    const { client, key, project } = newKey();
    fake.enqueue({ kind: "error", status: 500 });
    expect((await client.chat.completions.create({ model: "priced", messages }).then(() => null, (e: { status?: number }) => e))?.status).toBe(502);
    fake.enqueue({ kind: "hang" });
    expect((await client.chat.completions.create({ model: "timeout", messages, stream: true }).then(() => null, (e: { status?: number }) => e))?.status).toBe(504);
    expect((await client.chat.completions.create({ model: "refused", messages }).then(() => null, (e: { status?: number }) => e))?.status).toBe(502);
    await eventually(() => requestRowsOfKey(server, key.id).length === 3);
    for (const row of requestRowsOfKey(server, key.id)) expect(row).toMatchObject({ cost_nano_usd: 0, usage_source: "none" });
    expect(ledgerState(server, project.id)).toMatchObject({ balance: 1_000_000_000, charges: [] });
  });
});
