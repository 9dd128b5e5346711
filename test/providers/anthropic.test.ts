// The Anthropic adapter against the fake Messages API: request translation, answers, streams
// and errors as the router sees them.

import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { createAnthropicProvider } from "../../src/providers/anthropic";
import type { ChatResult, ProviderSettings, StreamChunk } from "../../src/providers/types";
import { UpstreamError } from "../../src/shared/errors";
import { startFakeAnthropic } from "../fakes/anthropic";

const fake = startFakeAnthropic();
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
});

function settings(overrides: Partial<ProviderSettings> = {}): ProviderSettings {
  return { id: "anthropic", type: "anthropic", base_url: fake.url, api_key: fake.apiKey, first_byte_timeout_ms: 5000, idle_timeout_ms: 5000, ...overrides };
}
const provider = createAnthropicProvider(settings());

async function chat(body: Record<string, unknown>, stream = false): Promise<ChatResult> {
  return provider.chat({ body: { model: "claude-sonnet-4-5", ...body }, stream, signal: new AbortController().signal });
}
async function json(body: Record<string, unknown>) {
  const result = await chat(body);
  if (result.kind !== "json") throw new Error("expected json");
  return result;
}
async function collect(body: Record<string, unknown>): Promise<StreamChunk[]> {
  const result = await chat(body, true);
  if (result.kind !== "stream") throw new Error("expected stream");
  const chunks: StreamChunk[] = [];
  for await (const chunk of result.chunks) chunks.push(chunk);
  return chunks;
}
async function failure(promise: Promise<unknown>): Promise<UpstreamError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof UpstreamError) return error;
    throw error;
  }
  throw new Error("expected an UpstreamError");
}
const lastBody = () => fake.requests.at(-1)!.body;

describe("request translation", () => {
  test("system and developer messages become the top-level system; headers carry key and version", async () => {
    await json({ messages: [{ role: "system", content: "You are terse." }, { role: "developer", content: [{ type: "text", text: "Answer in English." }] }, { role: "user", content: "Hi" }] });
    const request = fake.requests.at(-1)!;
    expect(request.path).toBe("/v1/messages");
    expect(request.headers["x-api-key"]).toBe(fake.apiKey);
    expect(request.headers["anthropic-version"]).toBe("2023-06-01");
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body).toEqual({
      model: "claude-sonnet-4-5",
      max_tokens: 4096,
      system: "You are terse.\n\nAnswer in English.",
      messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }],
    });
  });

  test("anthropic_version setting and a base_url ending in /v1 are honoured", async () => {
    const custom = createAnthropicProvider(settings({ base_url: `${fake.url}/v1`, anthropic_version: "2024-01-01" }));
    await custom.chat({ body: { model: "claude-haiku-4-5", messages: [{ role: "user", content: "Hi" }] }, stream: false, signal: new AbortController().signal });
    expect(fake.requests.at(-1)!.path).toBe("/v1/messages");
    expect(fake.requests.at(-1)!.headers["anthropic-version"]).toBe("2024-01-01");
  });

  test("multi-turn keeps the order; sampling fields are translated, OpenAI-only ones dropped", async () => {
    await json({
      messages: [
        { role: "user", content: "Count to two." },
        { role: "assistant", content: "One, two." },
        { role: "user", content: "And three?" },
      ],
      max_completion_tokens: 50,
      stop: "four",
      temperature: 1.7,
      top_p: 0.5,
      user: "user-42",
      n: 1,
      logprobs: false,
      stream_options: { include_usage: true },
      frequency_penalty: 0.1,
    });
    // The fake rejects unknown fields, temperature > 1 and temperature with top_p, as Anthropic does.
    expect(lastBody()).toEqual({
      model: "claude-sonnet-4-5",
      max_tokens: 50,
      messages: [
        { role: "user", content: [{ type: "text", text: "Count to two." }] },
        { role: "assistant", content: [{ type: "text", text: "One, two." }] },
        { role: "user", content: [{ type: "text", text: "And three?" }] },
      ],
      stop_sequences: ["four"],
      temperature: 1,
      metadata: { user_id: "user-42" },
    });
  });

  test("top_p without temperature reaches Anthropic as top_p", async () => {
    await json({ messages: [{ role: "user", content: "Pick a word." }], top_p: 0.3 });
    expect(lastBody()).toEqual({
      model: "claude-sonnet-4-5",
      max_tokens: 4096,
      messages: [{ role: "user", content: [{ type: "text", text: "Pick a word." }] }],
      top_p: 0.3,
    });
  });

  test("images: data URLs become base64 sources, https URLs url sources", async () => {
    await json({
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "Compare these." },
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
            { type: "image_url", image_url: { url: "https://example.com/cat.jpg", detail: "high" } },
          ],
        },
      ],
    });
    expect(lastBody().messages[0].content).toEqual([
      { type: "text", text: "Compare these." },
      { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
      { type: "image", source: { type: "url", url: "https://example.com/cat.jpg" } },
    ]);
  });

  test("JSON mode is asked for in the system prompt, with the schema when given", async () => {
    await json({ messages: [{ role: "user", content: "List a fruit." }], response_format: { type: "json_object" } });
    expect(lastBody().system).toContain("single valid JSON object");
    expect(lastBody().response_format).toBeUndefined();

    const schema = { type: "object", properties: { fruit: { type: "string" } }, required: ["fruit"], additionalProperties: false };
    await json({ messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "A fruit." }], response_format: { type: "json_schema", json_schema: { name: "fruit", schema, strict: true } } });
    expect(lastBody().system.startsWith("Be brief.\n\n")).toBe(true);
    expect(lastBody().system).toContain(JSON.stringify(schema));
  });

  test("unsupported content parts are a 400 that no fallback could fix", async () => {
    const error = await failure(json({ messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: "AAAA", format: "wav" } }] }] }));
    expect(error.status).toBe(400);
    expect(error.retryable).toBe(false);
    expect(fake.requests).toHaveLength(0);
  });
});

describe("tools", () => {
  const tools = [
    { type: "function", function: { name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } },
    { type: "function", function: { name: "get_time" } },
  ];

  test("round trip: tool_use comes back as tool_calls; results go back as merged tool_result blocks", async () => {
    fake.enqueue({ kind: "ok", text: "Let me check.", toolCalls: [{ id: "toolu_01", name: "get_weather", input: { city: "Paris" } }, { id: "toolu_02", name: "get_time", input: {} }] });
    const first = await json({ messages: [{ role: "user", content: "Weather and time in Paris?" }], tools, tool_choice: "required" });
    expect(lastBody().tools).toEqual([
      { name: "get_weather", description: "Weather for a city", input_schema: tools[0]!.function.parameters },
      { name: "get_time", input_schema: { type: "object", properties: {} } },
    ]);
    expect(lastBody().tool_choice).toEqual({ type: "any" });

    const choice = (first.body.choices as any[])[0];
    expect(choice.finish_reason).toBe("tool_calls");
    expect(choice.message.content).toBe("Let me check.");
    expect(choice.message.tool_calls).toEqual([
      { id: "toolu_01", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
      { id: "toolu_02", type: "function", function: { name: "get_time", arguments: "{}" } },
    ]);

    await json({
      messages: [
        { role: "user", content: "Weather and time in Paris?" },
        choice.message,
        { role: "tool", tool_call_id: "toolu_01", content: '{"temp_c":21}' },
        { role: "tool", tool_call_id: "toolu_02", content: [{ type: "text", text: "14:05" }] },
        { role: "user", content: "Thanks, summarise." },
      ],
      tools,
    });
    expect(lastBody().messages).toEqual([
      { role: "user", content: [{ type: "text", text: "Weather and time in Paris?" }] },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Let me check." },
          { type: "tool_use", id: "toolu_01", name: "get_weather", input: { city: "Paris" } },
          { type: "tool_use", id: "toolu_02", name: "get_time", input: {} },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_01", content: '{"temp_c":21}' },
          { type: "tool_result", tool_use_id: "toolu_02", content: "14:05" },
          { type: "text", text: "Thanks, summarise." },
        ],
      },
    ]);
  });

  test("tool_choice: a named function, none, and auto without parallel calls", async () => {
    const messages = [{ role: "user", content: "Hi" }];
    await json({ messages, tools, tool_choice: { type: "function", function: { name: "get_time" } } });
    expect(lastBody().tool_choice).toEqual({ type: "tool", name: "get_time" });
    await json({ messages, tools, tool_choice: "none" });
    expect(lastBody().tool_choice).toEqual({ type: "none" });
    await json({ messages, tools, parallel_tool_calls: false });
    expect(lastBody().tool_choice).toEqual({ type: "auto", disable_parallel_tool_use: true });
    await json({ messages, tool_choice: "auto" });
    expect(lastBody().tool_choice).toBeUndefined(); // Anthropic wants no tool_choice without tools
  });

  test("tool-call arguments that are not a JSON object are a 400", async () => {
    const error = await failure(
      json({
        messages: [
          { role: "user", content: "Hi" },
          { role: "assistant", content: null, tool_calls: [{ id: "toolu_x", type: "function", function: { name: "get_time", arguments: "not json" } }] },
          { role: "tool", tool_call_id: "toolu_x", content: "ok" },
        ],
      }),
    );
    expect(error.status).toBe(400);
    expect(error.param).toBe("messages[1].tool_calls[0].function.arguments");
  });
});

describe("answers", () => {
  test("text, model as Anthropic reports it, usage", async () => {
    fake.enqueue({ kind: "ok", text: "Bonjour.", model: "claude-sonnet-4-5-20250929", usage: { input_tokens: 20, output_tokens: 3 } });
    const result = await json({ messages: [{ role: "user", content: "Hello in French" }] });
    expect(result.model).toBe("claude-sonnet-4-5-20250929");
    expect(result.usage).toEqual({ inputTokens: 20, outputTokens: 3, cachedInputTokens: 0 });
    expect(result.body).toMatchObject({
      object: "chat.completion",
      model: "claude-sonnet-4-5-20250929",
      choices: [{ index: 0, message: { role: "assistant", content: "Bonjour." }, finish_reason: "stop" }],
      usage: { prompt_tokens: 20, completion_tokens: 3, total_tokens: 23, prompt_tokens_details: { cached_tokens: 0 } },
    });
  });

  test("cache reads and writes count as prompt tokens; only reads are cached", async () => {
    fake.enqueue({ kind: "ok", usage: { input_tokens: 10, cache_read_input_tokens: 100, cache_creation_input_tokens: 20, output_tokens: 5 } });
    const result = await json({ messages: [{ role: "user", content: "Hi" }] });
    expect(result.usage).toEqual({ inputTokens: 130, outputTokens: 5, cachedInputTokens: 100 });
    expect((result.body.usage as any).prompt_tokens_details.cached_tokens).toBe(100);
  });

  test.each([
    ["end_turn", "stop"],
    ["stop_sequence", "stop"],
    ["max_tokens", "length"],
    ["tool_use", "tool_calls"],
    ["refusal", "content_filter"],
  ])("stop_reason %s → finish_reason %s", async (stopReason, finish) => {
    fake.enqueue({ kind: "ok", stopReason });
    const result = await json({ messages: [{ role: "user", content: "Hi" }] });
    expect((result.body.choices as any[])[0].finish_reason).toBe(finish);
  });
});

describe("streaming", () => {
  test("text deltas, a finish chunk, then a usage-only chunk", async () => {
    fake.enqueue({ kind: "stream", chunks: ["Hel", "lo", "!"], usage: { input_tokens: 9, cache_read_input_tokens: 4, output_tokens: 3 } });
    const chunks = await collect({ messages: [{ role: "user", content: "Hi" }] });
    expect(lastBody().stream).toBe(true);
    const parsed = chunks.map((chunk) => JSON.parse(chunk.data));
    expect(parsed[0]).toMatchObject({ object: "chat.completion.chunk", id: "msg_fakestream01", model: "claude-sonnet-4-5", choices: [{ index: 0, delta: { role: "assistant", content: "" } }] });
    expect(chunks.map((chunk) => chunk.textDelta).join("")).toBe("Hello!");
    const finish = parsed.at(-2)!;
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: "stop" });
    const last = chunks.at(-1)!;
    expect(last.usageOnly).toBe(true);
    expect(last.usage).toEqual({ inputTokens: 13, outputTokens: 3, cachedInputTokens: 4 });
    expect(JSON.parse(last.data)).toMatchObject({ choices: [], usage: { prompt_tokens: 13, completion_tokens: 3, total_tokens: 16, prompt_tokens_details: { cached_tokens: 4 } } });
    expect(chunks.filter((chunk) => chunk.usage)).toHaveLength(1);
  });

  test("tool_use blocks stream as tool_calls deltas with the right index", async () => {
    fake.enqueue({
      kind: "stream",
      chunks: ["Checking."],
      toolCalls: [
        { id: "toolu_a", name: "get_weather", input: { city: "Paris" } },
        { id: "toolu_b", name: "get_weather", input: { city: "Rome" } },
      ],
    });
    const chunks = await collect({ messages: [{ role: "user", content: "Paris and Rome?" }], tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }] });
    const deltas = chunks.map((chunk) => JSON.parse(chunk.data).choices[0]?.delta).filter((delta) => delta?.tool_calls);
    const starts = deltas.filter((delta) => delta.tool_calls[0].id).map((delta) => delta.tool_calls[0]);
    expect(starts).toEqual([
      { index: 0, id: "toolu_a", type: "function", function: { name: "get_weather", arguments: "" } },
      { index: 1, id: "toolu_b", type: "function", function: { name: "get_weather", arguments: "" } },
    ]);
    const argumentsOf = (index: number) => deltas.map((delta) => delta.tool_calls[0]).filter((call) => call.index === index).map((call) => call.function.arguments).join("");
    expect(JSON.parse(argumentsOf(0))).toEqual({ city: "Paris" });
    expect(JSON.parse(argumentsOf(1))).toEqual({ city: "Rome" });
    const finish = chunks.map((chunk) => JSON.parse(chunk.data).choices[0]?.finish_reason).filter(Boolean);
    expect(finish).toEqual(["tool_calls"]);
    expect(chunks.at(-1)!.usageOnly).toBe(true);
  });

  test("an `error` event mid-stream makes the iterator throw an UpstreamError", async () => {
    fake.enqueue({ kind: "stream", chunks: ["a", "b", "c"], errorAfter: 2 });
    const result = await chat({ messages: [{ role: "user", content: "Hi" }] }, true);
    if (result.kind !== "stream") throw new Error("expected stream");
    const seen: string[] = [];
    const error = await failure(
      (async () => {
        for await (const chunk of result.chunks) seen.push(chunk.textDelta);
      })(),
    );
    expect(seen.join("")).toBe("ab");
    expect(error.code).toBe("upstream_unavailable");
    expect(error.message).toContain("Overloaded");
  });

  test("a connection dropped mid-stream makes the iterator throw", async () => {
    fake.enqueue({ kind: "stream", chunks: ["a", "b", "c"], dieAfter: 1 });
    const error = await failure(collect({ messages: [{ role: "user", content: "Hi" }] }));
    expect(error.retryable).toBe(false);
  });
});

describe("errors", () => {
  test("529 overloaded is a retryable 503", async () => {
    fake.enqueue({ kind: "error", status: 529 });
    const error = await failure(json({ messages: [{ role: "user", content: "Hi" }] }));
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(503);
    expect(error.code).toBe("upstream_unavailable");
  });

  test("400 is passed on as a final 400 with Anthropic's message", async () => {
    fake.enqueue({ kind: "error", status: 400, message: "messages: text content blocks must be non-empty" });
    const error = await failure(json({ messages: [{ role: "user", content: "Hi" }] }));
    expect(error.retryable).toBe(false);
    expect(error.status).toBe(400);
    expect(error.message).toBe("messages: text content blocks must be non-empty");
  });

  test("429 keeps retry-after; a bad key is never the client's 401", async () => {
    fake.enqueue({ kind: "error", status: 429, headers: { "retry-after": "7" } });
    const limited = await failure(json({ messages: [{ role: "user", content: "Hi" }] }));
    expect(limited).toMatchObject({ code: "rate_limit_exceeded", retryable: true, retryAfterMs: 7000 });

    const wrongKey = createAnthropicProvider(settings({ api_key: "sk-ant-wrong" }));
    const error = await failure(wrongKey.chat({ body: { model: "claude-sonnet-4-5", messages: [{ role: "user", content: "Hi" }] }, stream: false, signal: new AbortController().signal }));
    expect(error.status).toBe(502);
    expect(error.retryable).toBe(true);
  });

  test("no first byte in time is a retryable timeout", async () => {
    fake.enqueue({ kind: "hang" });
    const slow = createAnthropicProvider(settings({ first_byte_timeout_ms: 150 }));
    const error = await failure(slow.chat({ body: { model: "claude-sonnet-4-5", messages: [{ role: "user", content: "Hi" }] }, stream: false, signal: new AbortController().signal }));
    expect(error.code).toBe("upstream_timeout");
    expect(error.retryable).toBe(true);
  });
});
