// The Gemini adapter against the fake Gemini API: request translation, answers, SSE streams,
// errors and embeddings as the router sees them.

import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { createGeminiProvider } from "../../src/providers/gemini";
import type { ChatResult, ProviderSettings, StreamChunk } from "../../src/providers/types";
import { UpstreamError } from "../../src/shared/errors";
import { startFakeGemini } from "../fakes/gemini";

const fake = startFakeGemini();
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
});

function settings(overrides: Partial<ProviderSettings> = {}): ProviderSettings {
  return { id: "gemini", type: "gemini", base_url: fake.url, api_key: fake.apiKey, first_byte_timeout_ms: 5000, idle_timeout_ms: 5000, ...overrides };
}
const provider = createGeminiProvider(settings());
const signal = () => new AbortController().signal;

async function chat(body: Record<string, unknown>, stream = false): Promise<ChatResult> {
  return provider.chat({ body: { model: "gemini-2.5-flash", ...body }, stream, signal: signal() });
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
  test("system instruction, contents, generation config, key header", async () => {
    const result = await json({
      messages: [
        { role: "system", content: "You are terse." },
        { role: "user", content: "Count to two." },
        { role: "assistant", content: "One, two." },
        { role: "user", content: [{ type: "text", text: "And three?" }] },
      ],
      temperature: 0.2,
      top_p: 0.9,
      max_tokens: 64,
      stop: ["four", "five"],
      n: 2,
      seed: 7,
    });
    const request = fake.requests.at(-1)!;
    expect(request.path).toBe("/v1beta/models/gemini-2.5-flash:generateContent");
    expect(request.headers["x-goog-api-key"]).toBe(fake.apiKey);
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body).toEqual({
      contents: [
        { role: "user", parts: [{ text: "Count to two." }] },
        { role: "model", parts: [{ text: "One, two." }] },
        { role: "user", parts: [{ text: "And three?" }] },
      ],
      systemInstruction: { parts: [{ text: "You are terse." }] },
      generationConfig: { temperature: 0.2, topP: 0.9, maxOutputTokens: 64, stopSequences: ["four", "five"], candidateCount: 2, seed: 7 },
    });
    // n=2 → two candidates → two choices.
    expect((result.body.choices as any[]).map((choice) => choice.index)).toEqual([0, 1]);
  });

  test("a model configured as models/<id> is not doubled in the URL", async () => {
    await provider.chat({ body: { model: "models/gemini-2.5-pro", messages: [{ role: "user", content: "Hi" }] }, stream: false, signal: signal() });
    expect(fake.requests.at(-1)!.path).toBe("/v1beta/models/gemini-2.5-pro:generateContent");
  });

  test("images: inlineData for data URLs, fileData for https URLs", async () => {
    await json({
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "What is this?" },
            { type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/4AAQ" } },
            { type: "image_url", image_url: { url: "https://example.com/photo.png" } },
          ],
        },
      ],
    });
    expect(lastBody().contents[0].parts).toEqual([
      { text: "What is this?" },
      { inlineData: { mimeType: "image/jpeg", data: "/9j/4AAQ" } },
      { fileData: { mimeType: "image/png", fileUri: "https://example.com/photo.png" } },
    ]);
  });

  test("JSON mode: json_object sets the MIME type; json_schema passes the schema as JSON Schema", async () => {
    await json({ messages: [{ role: "user", content: "A fruit" }], response_format: { type: "json_object" } });
    expect(lastBody().generationConfig).toEqual({ responseMimeType: "application/json" });

    const schema = { type: "object", properties: { fruit: { type: "string" } }, required: ["fruit"], additionalProperties: false };
    await json({ messages: [{ role: "user", content: "A fruit" }], response_format: { type: "json_schema", json_schema: { name: "fruit", schema, strict: true } } });
    expect(lastBody().generationConfig).toEqual({ responseMimeType: "application/json", responseJsonSchema: schema });
  });
});

describe("tools", () => {
  const weather = { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false };
  const tools = [
    { type: "function", function: { name: "get_weather", description: "Weather for a city", parameters: weather } },
    { type: "function", function: { name: "get_time" } },
  ];

  test("round trip: functionCall parts come back as tool_calls; results go back as functionResponse", async () => {
    fake.enqueue({
      kind: "ok",
      functionCalls: [
        { name: "get_weather", args: { city: "Paris" }, thoughtSignature: "c2lnbmF0dXJlMQ==" },
        { name: "get_time", args: {} },
      ],
    });
    const first = await json({ messages: [{ role: "user", content: "Weather and time in Paris?" }], tools, tool_choice: "required" });
    expect(lastBody().tools).toEqual([
      { functionDeclarations: [{ name: "get_weather", description: "Weather for a city", parametersJsonSchema: weather }, { name: "get_time" }] },
    ]);
    expect(lastBody().toolConfig).toEqual({ functionCallingConfig: { mode: "ANY" } });

    const choice = (first.body.choices as any[])[0];
    expect(choice.finish_reason).toBe("tool_calls");
    expect(choice.message.content).toBeNull();
    const [call1, call2] = choice.message.tool_calls;
    expect(call1).toMatchObject({ type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' }, extra_content: { google: { thought_signature: "c2lnbmF0dXJlMQ==" } } });
    expect(call2).toMatchObject({ type: "function", function: { name: "get_time", arguments: "{}" } });
    expect(call1.id).toMatch(/^call_/);
    expect(call1.id).not.toBe(call2.id);

    await json({
      messages: [
        { role: "user", content: "Weather and time in Paris?" },
        choice.message,
        { role: "tool", tool_call_id: call1.id, content: '{"temp_c":21}' },
        { role: "tool", tool_call_id: call2.id, content: "14:05" },
      ],
      tools,
    });
    expect(lastBody().contents).toEqual([
      { role: "user", parts: [{ text: "Weather and time in Paris?" }] },
      {
        role: "model",
        parts: [
          { functionCall: { name: "get_weather", args: { city: "Paris" } }, thoughtSignature: "c2lnbmF0dXJlMQ==" },
          { functionCall: { name: "get_time", args: {} } },
        ],
      },
      {
        role: "user",
        parts: [
          { functionResponse: { name: "get_weather", response: { temp_c: 21 } } },
          { functionResponse: { name: "get_time", response: { output: "14:05" } } },
        ],
      },
    ]);
  });

  test("Gemini 3 turns without a thought signature get Google's skip sentinel on the first call", async () => {
    const messages = [
      { role: "user", content: "Time?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_time", arguments: "" } }] },
      { role: "tool", tool_call_id: "call_1", content: "14:05" },
    ];
    await provider.chat({ body: { model: "gemini-3-pro-preview", messages, tools }, stream: false, signal: signal() });
    expect(lastBody().contents[1].parts[0]).toEqual({ functionCall: { name: "get_time", args: {} }, thoughtSignature: "skip_thought_signature_validator" });
    await json({ messages, tools }); // gemini-2.5: no signatures needed, none invented
    expect(lastBody().contents[1].parts[0]).toEqual({ functionCall: { name: "get_time", args: {} } });
  });

  test("tool_choice: a named function and none", async () => {
    const messages = [{ role: "user", content: "Hi" }];
    await json({ messages, tools, tool_choice: { type: "function", function: { name: "get_time" } } });
    expect(lastBody().toolConfig).toEqual({ functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["get_time"] } });
    await json({ messages, tools, tool_choice: "none" });
    expect(lastBody().toolConfig).toEqual({ functionCallingConfig: { mode: "NONE" } });
  });

  test("a tool result whose call id is unknown is a 400", async () => {
    const error = await failure(json({ messages: [{ role: "user", content: "Hi" }, { role: "tool", tool_call_id: "call_nope", content: "x" }] }));
    expect(error.status).toBe(400);
    expect(error.retryable).toBe(false);
  });
});

describe("answers", () => {
  test("text, modelVersion as the model, usage with cached and thinking tokens", async () => {
    fake.enqueue({ kind: "ok", text: "Bonjour.", modelVersion: "gemini-2.5-flash-001", usage: { promptTokenCount: 120, cachedContentTokenCount: 100, candidatesTokenCount: 4, thoughtsTokenCount: 30 } });
    const result = await json({ messages: [{ role: "user", content: "Hello in French" }] });
    expect(result.model).toBe("gemini-2.5-flash-001");
    expect(result.usage).toEqual({ inputTokens: 120, outputTokens: 34, cachedInputTokens: 100 });
    expect(result.body).toMatchObject({
      id: "chatcmpl-fakeResponse01",
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: "Bonjour." }, finish_reason: "stop" }],
      usage: { prompt_tokens: 120, completion_tokens: 34, total_tokens: 154, prompt_tokens_details: { cached_tokens: 100 } },
    });
  });

  test.each([
    ["STOP", "stop"],
    ["MAX_TOKENS", "length"],
    ["SAFETY", "content_filter"],
    ["RECITATION", "content_filter"],
    ["PROHIBITED_CONTENT", "content_filter"],
    ["SPII", "content_filter"],
    ["BLOCKLIST", "content_filter"],
  ])("finishReason %s → finish_reason %s", async (finishReason, finish) => {
    fake.enqueue({ kind: "ok", finishReason, ...(finishReason === "SAFETY" ? { text: "" } : {}) });
    const result = await json({ messages: [{ role: "user", content: "Hi" }] });
    expect((result.body.choices as any[])[0].finish_reason).toBe(finish);
  });

  test("a blocked prompt answers one empty choice filtered by content_filter", async () => {
    fake.enqueue({ kind: "blocked" });
    const result = await json({ messages: [{ role: "user", content: "something bad" }] });
    expect(result.body.choices).toEqual([{ index: 0, message: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: "content_filter" }]);
  });
});

describe("streaming", () => {
  test("alt=sse events become text chunks, a finish chunk and a usage-only chunk from the last usageMetadata", async () => {
    fake.enqueue({ kind: "stream", chunks: ["Hel", "lo", "!"], usage: { promptTokenCount: 9, candidatesTokenCount: 3, cachedContentTokenCount: 4, thoughtsTokenCount: 2 } });
    const chunks = await collect({ messages: [{ role: "user", content: "Hi" }] });
    expect(fake.requests.at(-1)!.path).toBe("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
    const parsed = chunks.map((chunk) => JSON.parse(chunk.data));
    expect(parsed[0]).toMatchObject({ object: "chat.completion.chunk", model: "gemini-2.5-flash", choices: [{ index: 0, delta: { role: "assistant", content: "Hel" } }] });
    expect(chunks.map((chunk) => chunk.textDelta).join("")).toBe("Hello!");
    expect(parsed.at(-2)!.choices[0]).toMatchObject({ finish_reason: "stop" });
    const last = chunks.at(-1)!;
    expect(last.usageOnly).toBe(true);
    expect(last.usage).toEqual({ inputTokens: 9, outputTokens: 5, cachedInputTokens: 4 });
    expect(JSON.parse(last.data)).toMatchObject({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14, prompt_tokens_details: { cached_tokens: 4 } } });
  });

  test("function calls stream as complete tool_calls deltas, finishing with tool_calls", async () => {
    fake.enqueue({ kind: "stream", chunks: ["Checking."], functionCalls: [{ name: "get_weather", args: { city: "Paris" } }, { name: "get_weather", args: { city: "Rome" } }] });
    const chunks = await collect({ messages: [{ role: "user", content: "Paris and Rome?" }], tools: [{ type: "function", function: { name: "get_weather" } }] });
    const choices = chunks.map((chunk) => JSON.parse(chunk.data).choices[0]).filter(Boolean);
    const calls = choices.flatMap((choice) => choice.delta.tool_calls ?? []);
    expect(calls.map((call: any) => [call.index, call.function.name, call.function.arguments])).toEqual([
      [0, "get_weather", '{"city":"Paris"}'],
      [1, "get_weather", '{"city":"Rome"}'],
    ]);
    expect(calls.every((call: any) => call.id.startsWith("call_") && call.type === "function")).toBe(true);
    expect(choices.at(-1).finish_reason).toBe("tool_calls");
    expect(chunks.at(-1)!.usageOnly).toBe(true);
  });

  test("a SAFETY stop mid-stream finishes with content_filter", async () => {
    fake.enqueue({ kind: "stream", chunks: ["Once"], finishReason: "SAFETY" });
    const chunks = await collect({ messages: [{ role: "user", content: "Tell me" }] });
    const finishes = chunks.map((chunk) => JSON.parse(chunk.data).choices[0]?.finish_reason).filter(Boolean);
    expect(finishes).toEqual(["content_filter"]);
  });

  test("an error event mid-stream makes the iterator throw an UpstreamError", async () => {
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
    expect(error.message).toContain("overloaded");
  });

  test("a stream cut before its finish reason throws", async () => {
    fake.enqueue({ kind: "stream", chunks: ["a", "b", "c"], dieAfter: 2 });
    await failure(collect({ messages: [{ role: "user", content: "Hi" }] }));
  });
});

describe("errors", () => {
  test("400 INVALID_ARGUMENT is a final 400 with Google's message", async () => {
    fake.enqueue({ kind: "error", status: 400, message: "Request contains an invalid argument." });
    const error = await failure(json({ messages: [{ role: "user", content: "Hi" }] }));
    expect(error).toMatchObject({ status: 400, retryable: false, message: "Request contains an invalid argument." });
  });

  test("503 overloaded is retryable", async () => {
    fake.enqueue({ kind: "error", status: 503 });
    const error = await failure(json({ messages: [{ role: "user", content: "Hi" }] }));
    expect(error).toMatchObject({ status: 503, retryable: true, code: "upstream_unavailable" });
  });

  test("a bad key (Google's 400 API_KEY_INVALID) is a provider failure, not the client's 400", async () => {
    const wrong = createGeminiProvider(settings({ api_key: "wrong" }));
    const error = await failure(wrong.chat({ body: { model: "gemini-2.5-flash", messages: [{ role: "user", content: "Hi" }] }, stream: false, signal: signal() }));
    expect(error).toMatchObject({ status: 502, retryable: true });
    expect(error.message).not.toContain("wrong");
  });
});

describe("embeddings", () => {
  test("batchEmbedContents per input, answered as an OpenAI list with estimated usage", async () => {
    const result = await provider.embed!({ body: { model: "text-embedding-004", input: ["hello world", "bonjour"], dimensions: 4 }, signal: signal() });
    const request = fake.requests.at(-1)!;
    expect(request.path).toBe("/v1beta/models/text-embedding-004:batchEmbedContents");
    expect(request.headers["x-goog-api-key"]).toBe(fake.apiKey);
    expect(request.body).toEqual({
      requests: [
        { model: "models/text-embedding-004", content: { parts: [{ text: "hello world" }] }, outputDimensionality: 4 },
        { model: "models/text-embedding-004", content: { parts: [{ text: "bonjour" }] }, outputDimensionality: 4 },
      ],
    });
    expect(result.body).toEqual({
      object: "list",
      data: [
        { object: "embedding", index: 0, embedding: [0.01, 0.02, 0.03, 0.04] },
        { object: "embedding", index: 1, embedding: [0.02, 0.04, 0.06, 0.08] },
      ],
      model: "text-embedding-004",
      usage: { prompt_tokens: 5, total_tokens: 5 },
    });
    expect(result.usage).toEqual({ inputTokens: 5, outputTokens: 0, cachedInputTokens: 0 });
  });

  test("encoding_format base64 (the openai SDK's default) returns little-endian float32", async () => {
    const result = await provider.embed!({ body: { model: "text-embedding-004", input: "hi", encoding_format: "base64", dimensions: 2 }, signal: signal() });
    const encoded = (result.body.data as any[])[0].embedding as string;
    const buffer = Buffer.from(encoded, "base64");
    expect(Array.from(new Float32Array(buffer.buffer, buffer.byteOffset, 2))).toEqual([Math.fround(0.01), Math.fround(0.02)]);
  });

  test("token-array input is a 400", async () => {
    const error = await failure(provider.embed!({ body: { model: "text-embedding-004", input: [1, 2, 3] }, signal: signal() }));
    expect(error.status).toBe(400);
  });
});
