// The Azure OpenAI adapter against the fake Azure resource: deployment URLs, api-version,
// api-key, pass-through bodies, Azure's stream quirks, errors and embeddings.

import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { createAzureProvider } from "../../src/providers/azure";
import { createProvider } from "../../src/providers/registry";
import type { ChatResult, ProviderSettings, StreamChunk } from "../../src/providers/types";
import { UpstreamError } from "../../src/shared/errors";
import { startFakeAzure } from "../fakes/azure";

const fake = startFakeAzure({ deployments: ["gpt4o-prod", "embed-small"] });
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
});

function settings(overrides: Partial<ProviderSettings> = {}): ProviderSettings {
  return { id: "azure", type: "azure", base_url: fake.url, api_key: fake.apiKey, first_byte_timeout_ms: 5000, idle_timeout_ms: 5000, ...overrides };
}
const provider = createAzureProvider(settings());
const signal = () => new AbortController().signal;

async function chat(body: Record<string, unknown>, stream = false, target = provider): Promise<ChatResult> {
  return target.chat({ body: { model: "gpt4o-prod", ...body }, stream, signal: signal() });
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

describe("chat", () => {
  test("deployment URL, default api-version, api-key header; body passed through untouched", async () => {
    const body = {
      messages: [{ role: "user", content: "Hi" }],
      tools: [{ type: "function", function: { name: "get_time" } }],
      response_format: { type: "json_object" },
      some_future_field: { kept: true },
    };
    const result = await chat(body);
    const request = fake.requests.at(-1)!;
    expect(request.path).toBe("/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
    expect(request.headers["api-key"]).toBe(fake.apiKey);
    expect(request.headers.authorization).toBeUndefined();
    expect(request.body).toEqual({ model: "gpt4o-prod", ...body });
    if (result.kind !== "json") throw new Error("expected json");
    expect(result.model).toBe("gpt-4o-2024-08-06");
    expect(result.usage).toEqual({ inputTokens: 12, outputTokens: 5, cachedInputTokens: 0 });
    expect((result.body.choices as any[])[0].message.content).toBe("Hello from the fake Azure deployment.");
  });

  test("api_version setting and a base_url ending in /openai", async () => {
    const custom = createAzureProvider(settings({ base_url: `${fake.url}/openai/`, api_version: "2025-01-01-preview" }));
    await chat({ messages: [{ role: "user", content: "Hi" }] }, false, custom);
    expect(fake.requests.at(-1)!.path).toBe("/openai/deployments/gpt4o-prod/chat/completions?api-version=2025-01-01-preview");
  });

  test("tool calls and cached tokens come back as Azure sends them", async () => {
    fake.enqueue({ kind: "ok", toolCalls: [{ name: "get_time", arguments: "{}" }], usage: { prompt_tokens: 2000, completion_tokens: 9, cached_tokens: 1536 } });
    const result = await chat({ messages: [{ role: "user", content: "Time?" }], tools: [{ type: "function", function: { name: "get_time" } }] });
    if (result.kind !== "json") throw new Error("expected json");
    expect(result.usage).toEqual({ inputTokens: 2000, outputTokens: 9, cachedInputTokens: 1536 });
    expect((result.body.choices as any[])[0]).toMatchObject({ finish_reason: "tool_calls", message: { tool_calls: [{ id: "call_fake1", function: { name: "get_time", arguments: "{}" } }] } });
  });

  test("streams ask for usage, drop Azure's prompt-filter chunk and end with a usage-only chunk", async () => {
    const result = await chat({ messages: [{ role: "user", content: "Hi" }], stream: true }, true);
    if (result.kind !== "stream") throw new Error("expected stream");
    const chunks: StreamChunk[] = [];
    for await (const chunk of result.chunks) chunks.push(chunk);
    expect(fake.requests.at(-1)!.body.stream_options).toEqual({ include_usage: true });
    const parsed = chunks.map((chunk) => JSON.parse(chunk.data));
    expect(parsed.some((chunk) => chunk.prompt_filter_results)).toBe(false);
    expect(parsed[0].choices[0].delta.role).toBe("assistant");
    expect(chunks.map((chunk) => chunk.textDelta).join("")).toBe("Hello from the fake Azure stream.");
    const last = chunks.at(-1)!;
    expect(last.usageOnly).toBe(true);
    expect(last.usage).toEqual({ inputTokens: 12, outputTokens: 6, cachedInputTokens: 0 });
  });

  test("a connection dropped mid-stream makes the iterator throw", async () => {
    fake.enqueue({ kind: "stream", dieAfter: 2 });
    const result = await chat({ messages: [{ role: "user", content: "Hi" }], stream: true }, true);
    if (result.kind !== "stream") throw new Error("expected stream");
    await failure(
      (async () => {
        for await (const _ of result.chunks);
      })(),
    );
  });
});

describe("errors", () => {
  test("a content-filtered prompt is a final 400 with Azure's message", async () => {
    fake.enqueue({ kind: "contentFilter" });
    const error = await failure(chat({ messages: [{ role: "user", content: "something bad" }] }));
    expect(error).toMatchObject({ status: 400, retryable: false });
    expect(error.message).toContain("content management policy");
  });

  test("429 is retryable and keeps retry-after", async () => {
    fake.enqueue({ kind: "error", status: 429, code: "429", message: "Rate limit is exceeded.", headers: { "retry-after": "3" } });
    const error = await failure(chat({ messages: [{ role: "user", content: "Hi" }] }));
    expect(error).toMatchObject({ code: "rate_limit_exceeded", retryable: true, retryAfterMs: 3000 });
  });

  test("an unknown deployment is a 404", async () => {
    const error = await failure(chat({ model: "nope", messages: [{ role: "user", content: "Hi" }] }));
    expect(error.status).toBe(404);
  });

  test("a wrong api-key is a provider failure, never the client's 401", async () => {
    const error = await failure(chat({ messages: [{ role: "user", content: "Hi" }] }, false, createAzureProvider(settings({ api_key: "wrong" }))));
    expect(error).toMatchObject({ status: 502, retryable: true });
  });
});

describe("embeddings", () => {
  test("posted to the deployment's embeddings URL and passed through", async () => {
    const result = await provider.embed!({ body: { model: "embed-small", input: ["a", "b"] }, signal: signal() });
    const request = fake.requests.at(-1)!;
    expect(request.path).toBe("/openai/deployments/embed-small/embeddings?api-version=2024-10-21");
    expect(request.headers["api-key"]).toBe(fake.apiKey);
    expect((result.body.data as any[]).map((item) => item.index)).toEqual([0, 1]);
    expect(result.usage).toEqual({ inputTokens: 8, outputTokens: 0, cachedInputTokens: 0 });
    expect(result.model).toBe("text-embedding-3-small");
  });
});

describe("registry", () => {
  test("azure, anthropic and gemini are registered; azure without base_url fails at start", () => {
    const base = { first_byte_timeout_ms: 5000, idle_timeout_ms: 5000 };
    expect(createProvider({ id: "a", type: "anthropic", ...base }).chat).toBeFunction();
    expect(createProvider({ id: "g", type: "gemini", ...base }).embed).toBeFunction();
    expect(() => createProvider({ id: "z", type: "azure", ...base })).toThrow("base_url");
  });
});
