// Stream billing: charged from the upstream's final usage chunk; a client abort or an
// upstream failure mid-stream is charged for what was generated, marked estimated.

import { beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import type { FakeOpenAI } from "../fakes/openai";
import { pricedModelConfig, projectClient, withFakeOpenAI } from "../support/fake-openai-server";
import type { TestServer } from "../support/server";
import { eventually, ledgerState, requestRow } from "./support";

let fake: FakeOpenAI;
let server: TestServer;
const world = withFakeOpenAI((fakeUrl) => pricedModelConfig(fakeUrl));
beforeAll(() => ({ fake, server } = world));

const messages = [{ role: "user" as const, content: "stream me something" }];

const newKey = (creditsUsd = 1) => projectClient(server, "streams", creditsUsd);

describe("stream billing", () => {
  test("a completed stream is charged from the upstream's usage chunk", async () => {
    const { client, project } = newKey();
    fake.enqueue({ kind: "stream", chunks: ["one", " two"], usage: { prompt_tokens: 700, completion_tokens: 300 } });
    const { data: stream, response } = await client.chat.completions.create({ model: "priced", messages, stream: true }).withResponse();
    for await (const _ of stream) void _;
    const requestId = response.headers.get("x-request-id")!;
    await eventually(() => requestRow(server, requestId) !== null);
    // 1000 tokens × $10/M = $0.01
    expect(requestRow(server, requestId)).toMatchObject({ cost_nano_usd: 10_000_000, usage_source: "reported", input_tokens: 700, output_tokens: 300, status: 200 });
    expect(ledgerState(server, project.id).balance).toBe(990_000_000);
  });

  test("the usage chunk reaches only clients that asked for it", async () => {
    const { client } = newKey();
    fake.enqueue({ kind: "stream", usage: { prompt_tokens: 5, completion_tokens: 5 } });
    const asked = await client.chat.completions.create({ model: "priced", messages, stream: true, stream_options: { include_usage: true } });
    const usages = [];
    for await (const chunk of asked) if (chunk.usage) usages.push(chunk.usage);
    expect(usages).toEqual([{ prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 }]);
  });

  test("a stream aborted by the client is charged more than 0, no more than its hold, marked estimated", async () => {
    const { key, project } = newKey();
    fake.enqueue({ kind: "stream", chunks: Array.from({ length: 40 }, (_, i) => `word${i} `), delayMs: 40 });
    const controller = new AbortController();
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.key}` },
      body: JSON.stringify({ model: "priced", messages, stream: true, max_tokens: 200 }),
      signal: controller.signal,
    });
    const requestId = response.headers.get("x-request-id")!;
    const reader = response.body!.getReader();
    for (let i = 0; i < 4; i++) await reader.read();
    controller.abort();
    await eventually(() => requestRow(server, requestId) !== null);
    const row = requestRow(server, requestId)!;
    expect(row.usage_source).toBe("estimated");
    expect(row.status).toBe(499);
    expect(row.output_tokens).toBeGreaterThan(0);
    expect(row.cost_nano_usd).toBeGreaterThan(0);
    const holdNano = Math.ceil(((row.input_tokens + 200) * 10_000_000_000) / 1_000_000);
    expect(row.cost_nano_usd).toBeLessThanOrEqual(holdNano);
    const state = ledgerState(server, project.id);
    expect(state.balance).toBe(1_000_000_000 - row.cost_nano_usd);
    expect(state.balance).toBe(state.sum);
    await eventually(() => server.runtime.credits.openHolds() === 0);
    await eventually(() => fake.openStreams() === 0);
  });

  test("an upstream dying mid-stream: an SSE error event, a clean end, and what was delivered is charged", async () => {
    const { key } = newKey();
    fake.enqueue({ kind: "stream", chunks: ["alpha ", "beta ", "gamma ", "delta "], dieAfter: 2, delayMs: 30 });
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.key}` },
      body: JSON.stringify({ model: "priced", messages, stream: true }),
    });
    const text = await response.text();
    expect(text).toContain('"content":"alpha "');
    expect(text).toContain("event: error");
    expect(text).toContain('"type":"upstream_error"');
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
    const requestId = response.headers.get("x-request-id")!;
    await eventually(() => requestRow(server, requestId) !== null);
    const row = requestRow(server, requestId)!;
    expect(row.usage_source).toBe("estimated");
    expect(row.cost_nano_usd).toBeGreaterThan(0);
    expect(row.status).toBe(502);
  });

  test("the openai SDK surfaces a mid-stream failure as an APIError, not a silent truncation", async () => {
    const { client } = newKey();
    fake.enqueue({ kind: "stream", chunks: ["alpha ", "beta ", "gamma "], dieAfter: 1, delayMs: 30 });
    const stream = await client.chat.completions.create({ model: "priced", messages, stream: true });
    let text = "";
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    })().then(() => null, (e: unknown) => e);
    expect(text).toBe("alpha ");
    expect(error).toBeInstanceOf(OpenAI.APIError);
  });
});
