// Per-provider timeouts through the running server (short ones in config, so nothing sleeps
// for long): first byte → 504 before streaming, with the hold released; idle between chunks
// → an SSE error once content has flowed; a long, healthy stream is never cut.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { eventually, requestRow } from "../credits/support";
import { startFakeGemini, type FakeGemini } from "../fakes/gemini";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";

let openai: FakeOpenAI;
let gemini: FakeGemini;
let server: TestServer;
let key: string;

beforeAll(async () => {
  openai = startFakeOpenAI();
  gemini = startFakeGemini();
  server = await startTestServer({
    yaml: `
routing: { retries: 0, cooldown_after_failures: 1000 }
providers:
  openai: { type: openai, base_url: "${openai.url}", api_key: sk-o, first_byte_timeout_seconds: 0.2, idle_timeout_seconds: 0.2 }
  gemini: { type: gemini, base_url: "${gemini.url}", api_key: "${gemini.apiKey}", first_byte_timeout_seconds: 0.2, idle_timeout_seconds: 0.2 }
models:
  gpt:
    routes: [openai/gpt-4o]
    pricing: { input: 1, output: 1 }
  flash:
    routes: [gemini/gemini-2.5-flash]
    pricing: { input: 1, output: 1 }
`,
  });
  key = projectWithKey(server, 5).key.key;
});
afterAll(async () => {
  await server.stop();
  await Promise.all([openai.close(), gemini.close()]);
});
beforeEach(() => openai.reset());

function chat(model: string, stream: boolean) {
  return fetch(`${server.baseURL}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "tick" }], stream }),
  });
}

/** The SSE frames of a finished stream. */
const framesOf = (text: string) => text.trimEnd().split("\n\n");

describe("first-byte timeout", () => {
  test("an upstream that never answers → 504 upstream_timeout, and the hold is released", async () => {
    openai.enqueue({ kind: "hang" });
    const started = performance.now();
    const response = await chat("gpt", false);
    expect(response.status).toBe(504);
    expect(((await response.json()) as { error: unknown }).error).toMatchObject({ code: "upstream_timeout", type: "upstream_error" });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(server.runtime.credits.openHolds()).toBe(0);
  });

  test("a stream request is answered 504 as JSON too: nothing had started", async () => {
    gemini.enqueue({ kind: "hang" });
    const response = await chat("flash", true);
    expect(response.status).toBe(504);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(server.runtime.credits.openHolds()).toBe(0);
  });
});

describe("idle timeout", () => {
  test("a JSON answer whose body stalls after the headers → 504 upstream_timeout, the hold released, the upstream connection closed", async () => {
    openai.enqueue({ kind: "ok", stallBody: true });
    const started = performance.now();
    const response = await chat("gpt", false);
    expect(response.status).toBe(504);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("upstream_timeout");
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(server.runtime.credits.openHolds()).toBe(0);
    // The half-sent body is not left open on the upstream: its connection was closed.
    await eventually(() => openai.openStreams() === 0);
  });

  test("silence after some content → the content, an SSE error upstream_timeout, [DONE]; charged", async () => {
    openai.enqueue({ kind: "stream", chunks: ["one ", "two ", "three "], stallAfter: 2 });
    const response = await chat("gpt", true);
    expect(response.status).toBe(200);
    const frames = framesOf(await response.text());
    expect(frames.join("\n")).toContain('"content":"two "');
    expect(frames.at(-2)).toStartWith("event: error\n");
    expect(JSON.parse(frames.at(-2)!.split("data: ")[1]!).error.code).toBe("upstream_timeout");
    expect(frames.at(-1)).toBe("data: [DONE]");
    const requestId = response.headers.get("x-request-id")!;
    await eventually(() => requestRow(server, requestId) !== null);
    expect(requestRow(server, requestId)).toMatchObject({ usage_source: "estimated", status: 504 });
    expect(requestRow(server, requestId)!.cost_nano_usd).toBeGreaterThan(0);
    expect(server.runtime.credits.openHolds()).toBe(0);
    // The stalled upstream connection was closed, not left open.
    await eventually(() => openai.openStreams() === 0);
  });

  test("the same on Gemini's stream", async () => {
    gemini.enqueue({ kind: "stream", chunks: ["one ", "two "], delayMs: 1_000 });
    const response = await chat("flash", true);
    const frames = framesOf(await response.text());
    expect(frames.join("\n")).toContain('"content":"one "');
    expect(JSON.parse(frames.at(-2)!.split("data: ")[1]!).error.code).toBe("upstream_timeout");
    expect(frames.at(-1)).toBe("data: [DONE]");
  });

  test("silence before any content → 504, since the client's stream had not started", async () => {
    openai.enqueue({ kind: "stream", chunks: ["never"], stallAfter: 0 });
    const response = await chat("gpt", true);
    expect(response.status).toBe(504);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("upstream_timeout");
    expect(server.runtime.credits.openHolds()).toBe(0);
  });

  test("a healthy stream longer than the first-byte timeout is not cut off", async () => {
    openai.enqueue({ kind: "stream", chunks: ["a", "b", "c", "d", "e", "f"], delayMs: 60 });
    const response = await chat("gpt", true);
    const text = await response.text();
    expect(text).not.toContain("event: error");
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
    expect(text).toContain('"content":"f"');
  });
});
