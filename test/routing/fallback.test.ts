// Fallback through the running server: the next route on 5xx, connection errors and timeouts;
// retry-after honoured (waits recorded, not slept); cooldown on an injected clock; the client's
// `models: [...]`; direct provider/model names; no fallback for the client's own mistakes.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { startFakeAnthropic, type FakeAnthropic } from "../fakes/anthropic";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { ManualClock } from "../../src/shared/clock";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";
import { recordingSeams } from "./seams";

let primary: FakeOpenAI;
let secondary: FakeOpenAI;
let anthropic: FakeAnthropic;
let server: TestServer;
let client: OpenAI;
const clock = new ManualClock(Date.parse("2026-01-01T00:00:00Z"));
// random() = 0.5 makes the jitter factor exactly 1.
const seams = recordingSeams({ random: () => 0.5 });

beforeAll(async () => {
  primary = startFakeOpenAI();
  secondary = startFakeOpenAI();
  anthropic = startFakeAnthropic();
  server = await startTestServer({
    clock,
    routing: seams,
    yaml: `
routing: { retries: 1, cooldown_after_failures: 2, cooldown_seconds: 30, allow_direct: true }
providers:
  primary: { type: openai, base_url: "${primary.url}", api_key: sk-p, first_byte_timeout_seconds: 0.2 }
  secondary: { type: openai, base_url: "${secondary.url}", api_key: sk-s }
  anthropic: { type: anthropic, base_url: "${anthropic.url}", api_key: "${anthropic.apiKey}" }
  dead: { type: openai-compatible, base_url: "http://127.0.0.1:1/v1" }
models:
  chat:
    routes: [primary/gpt-4o, secondary/gpt-4o-mini]
    pricing: { input: 1, output: 1 }
  solo:
    routes: [primary/gpt-4o]
    pricing: { input: 1, output: 1 }
  cheap:
    routes: [secondary/gpt-4o-mini]
    pricing: { input: 0.1, output: 0.1 }
  claude:
    routes: [anthropic/claude-sonnet-4-5, primary/gpt-4o]
    pricing: { input: 3, output: 15 }
  unreachable-first:
    routes: [dead/llama, secondary/gpt-4o-mini]
    pricing: { input: 1, output: 1 }
`,
  });
  client = new OpenAI({ apiKey: projectWithKey(server, 5).key.key, baseURL: server.baseURL, maxRetries: 0 });
});
afterAll(async () => {
  await server.stop();
  await Promise.all([primary.close(), secondary.close(), anthropic.close()]);
});
beforeEach(() => {
  // Fresh route health for each test; the fakes forget their queues and requests.
  server.runtime.reload(server.runtime.config);
  seams.waits.length = 0;
  primary.reset();
  secondary.reset();
  anthropic.requests.length = 0;
});

const messages = [{ role: "user" as const, content: "route me" }];
const ask = (body: Record<string, unknown>) => client.chat.completions.create({ messages, ...body } as never).withResponse();
const servedBy = (response: Response) => [response.headers.get("x-parrotrouter-provider"), response.headers.get("x-parrotrouter-model")];

describe("the next route on a retryable failure", () => {
  test("first route 500 (and its retry) → the second route answers", async () => {
    primary.enqueue({ kind: "error", status: 500 }, { kind: "error", status: 500 });
    const { data, response } = await ask({ model: "chat" });
    expect(servedBy(response)).toEqual(["secondary", "gpt-4o-mini"]);
    expect(data.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    expect(primary.requests).toHaveLength(2);
    // One retry of the first route after the base backoff, none before falling back.
    expect(seams.waits).toEqual([200]);
  });

  test("a connection error → the next route", async () => {
    const { response } = await ask({ model: "unreachable-first" });
    expect(servedBy(response)).toEqual(["secondary", "gpt-4o-mini"]);
  });

  test("no first byte within first_byte_timeout_seconds → the next route", async () => {
    primary.enqueue({ kind: "hang" }, { kind: "hang" });
    const { response } = await ask({ model: "chat" });
    expect(servedBy(response)).toEqual(["secondary", "gpt-4o-mini"]);
    expect(server.runtime.credits.openHolds()).toBe(0);
  });

  test("Anthropic 529 overloaded → falls back across providers to OpenAI", async () => {
    anthropic.enqueue({ kind: "error", status: 529 }, { kind: "error", status: 529 });
    const { response } = await ask({ model: "claude" });
    expect(servedBy(response)).toEqual(["primary", "gpt-4o"]);
    expect(anthropic.requests).toHaveLength(2);
  });

  test("a stream that fails before its first content falls back; the client sees one clean stream", async () => {
    primary.enqueue({ kind: "stream", dieAfter: 0 }, { kind: "stream", dieAfter: 0 });
    secondary.enqueue({ kind: "stream", chunks: ["from ", "secondary"] });
    const { data: stream, response } = await ask({ model: "chat", stream: true });
    let text = "";
    for await (const chunk of stream as unknown as AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("from secondary");
    expect(servedBy(response)).toEqual(["secondary", "gpt-4o-mini"]);
  });

  test("the client's own mistake (400) is not tried elsewhere", async () => {
    primary.enqueue({ kind: "error", status: 400, body: { error: { message: "bad temperature", type: "invalid_request_error", param: null, code: null } } });
    const error = await ask({ model: "chat" }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(secondary.requests).toHaveLength(0);
  });
});

describe("retry-after", () => {
  test("a 429's retry-after is waited out exactly, then the same route answers", async () => {
    primary.enqueue({ kind: "error", status: 429, headers: { "retry-after": "2" } });
    const { response } = await ask({ model: "chat" });
    expect(seams.waits).toEqual([2_000]);
    expect(primary.requests).toHaveLength(2);
    expect(servedBy(response)).toEqual(["primary", "gpt-4o"]);
  });

  test("retry-after-ms is honoured too", async () => {
    primary.enqueue({ kind: "error", status: 429, headers: { "retry-after-ms": "750" } });
    await ask({ model: "chat" });
    expect(seams.waits).toEqual([750]);
  });

  test("a retry-after too long to wait → the next route at once; the route is skipped until it passes", async () => {
    primary.enqueue({ kind: "error", status: 429, headers: { "retry-after": "60" } });
    const { response } = await ask({ model: "chat" });
    expect(servedBy(response)).toEqual(["secondary", "gpt-4o-mini"]);
    expect(seams.waits).toEqual([]);
    await ask({ model: "chat" });
    expect(primary.requests).toHaveLength(1);
    clock.advance(60_001);
    const { response: later } = await ask({ model: "chat" });
    expect(servedBy(later)).toEqual(["primary", "gpt-4o"]);
  });
});

describe("cooldown", () => {
  test("a route that keeps failing is cooled down, skipped, and tried again after cooldown_seconds", async () => {
    // Two failures (the attempt and its retry) reach cooldown_after_failures.
    primary.enqueue({ kind: "error", status: 503 }, { kind: "error", status: 503 });
    await ask({ model: "chat" });
    expect(primary.requests).toHaveLength(2);

    const { response: skipped } = await ask({ model: "chat" });
    expect(servedBy(skipped)).toEqual(["secondary", "gpt-4o-mini"]);
    expect(primary.requests).toHaveLength(2);

    clock.advance(30_001);
    const { response: recovered } = await ask({ model: "chat" });
    expect(servedBy(recovered)).toEqual(["primary", "gpt-4o"]);
    expect(primary.requests).toHaveLength(3);
  });

  test("a model whose only route is cooling down is still tried rather than refused", async () => {
    primary.enqueue({ kind: "error", status: 503 }, { kind: "error", status: 503 });
    await ask({ model: "solo" }).catch(() => {});
    const { response } = await ask({ model: "solo" });
    expect(servedBy(response)).toEqual(["primary", "gpt-4o"]);
  });
});

describe("the client's models: [...]", () => {
  test("its fallbacks are tried in its order after `model`, and billed at the model that answered", async () => {
    primary.enqueue({ kind: "error", status: 500 }, { kind: "error", status: 500 });
    const { response } = await ask({ model: "solo", models: ["no-such-model", "cheap"] });
    expect(servedBy(response)).toEqual(["secondary", "gpt-4o-mini"]);
    const row = server.runtime.database.sqlite.query("select model from requests where id = ?").get(response.headers.get("x-request-id")!) as { model: string };
    expect(row.model).toBe("cheap");
    // The router's own field never reaches an upstream.
    expect(secondary.requests[0]!.body.models).toBeUndefined();
  });

  test("without a failure the primary model answers and the fallbacks are never asked", async () => {
    const { response } = await ask({ model: "cheap", models: ["solo"] });
    expect(servedBy(response)).toEqual(["secondary", "gpt-4o-mini"]);
    expect(primary.requests).toHaveLength(0);
  });
});

describe("direct provider/model names (routing.allow_direct)", () => {
  test("go to exactly that provider, with no fallback elsewhere", async () => {
    const { response } = await ask({ model: "secondary/gpt-4o-mini" });
    expect(servedBy(response)).toEqual(["secondary", "gpt-4o-mini"]);
    primary.enqueue({ kind: "error", status: 500 }, { kind: "error", status: 500 });
    const error = await ask({ model: "primary/gpt-4o" }).then(() => null, (e: unknown) => e);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect(secondary.requests).toHaveLength(1);
  });

  test("a target no configured model prices, or an unknown provider, is 404 model_not_found", async () => {
    for (const name of ["secondary/gpt-5-unpriced", "nowhere/gpt-4o"]) {
      const error = await ask({ model: name }).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    }
  });
});
