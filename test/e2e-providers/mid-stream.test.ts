// Once a stream has started there is no fallback: an upstream that fails mid-stream (an error
// event or a dropped connection) ends the client's stream with an SSE `error` event and a clean
// `[DONE]`, and what was delivered is charged. Shown for every upstream dialect.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { eventually, requestRow } from "../credits/support";
import { projectWithKey } from "../support/server";
import { startProviderWorld, type ProviderWorld, type Upstreams } from "./support";

let world: ProviderWorld;
let key: string;
beforeAll(async () => {
  world = await startProviderWorld();
  key = projectWithKey(world.server, 5).key.key;
});
afterAll(() => world.stop());

const CHUNKS = ["one ", "two ", "three ", "four "];

interface FailureCase {
  name: string;
  model: string;
  fail(fakes: Upstreams): void;
  /** The error code in the SSE error event. */
  code: string;
}

const FAILURES: FailureCase[] = [
  { name: "OpenAI connection dropped", model: "gpt-4o", fail: (f) => f.openai.enqueue({ kind: "stream", chunks: CHUNKS, dieAfter: 2 }), code: "upstream_error" },
  { name: "Anthropic overloaded_error event", model: "claude-sonnet", fail: (f) => f.anthropic.enqueue({ kind: "stream", chunks: CHUNKS, errorAfter: 2 }), code: "upstream_unavailable" },
  { name: "Anthropic connection dropped", model: "claude-sonnet", fail: (f) => f.anthropic.enqueue({ kind: "stream", chunks: CHUNKS, dieAfter: 2 }), code: "upstream_error" },
  { name: "Gemini error event", model: "gemini-flash", fail: (f) => f.gemini.enqueue({ kind: "stream", chunks: CHUNKS, errorAfter: 2 }), code: "upstream_error" },
  { name: "Gemini connection dropped", model: "gemini-flash", fail: (f) => f.gemini.enqueue({ kind: "stream", chunks: CHUNKS, dieAfter: 2 }), code: "upstream_error" },
  { name: "Azure connection dropped", model: "azure-4o", fail: (f) => f.azure.enqueue({ kind: "stream", chunks: CHUNKS, dieAfter: 2 }), code: "upstream_error" },
];

describe.each(FAILURES)("$name", (c) => {
  test("the delivered text, then an SSE error event and [DONE]; the delivered part is charged", async () => {
    c.fail(world.fakes);
    const response = await fetch(`${world.server.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: c.model, messages: [{ role: "user", content: "count" }], stream: true }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    const frames = text.trimEnd().split("\n\n");
    const delivered = frames
      .filter((f) => f.startsWith("data: {"))
      .map((f) => JSON.parse(f.slice(6)).choices?.[0]?.delta?.content ?? "")
      .join("");
    expect(delivered).toBe("one two ");
    const errorFrame = frames.at(-2)!;
    expect(errorFrame.startsWith("event: error\ndata: ")).toBe(true);
    expect(JSON.parse(errorFrame.split("data: ")[1]!).error.code).toBe(c.code);
    expect(frames.at(-1)).toBe("data: [DONE]");

    const requestId = response.headers.get("x-request-id")!;
    await eventually(() => requestRow(world.server, requestId) !== null);
    expect(requestRow(world.server, requestId)!.cost_nano_usd).toBeGreaterThan(0);
    expect(world.server.runtime.credits.openHolds()).toBe(0);
  });
});

test("the openai SDK raises the mid-stream error after the delivered chunks, not a silent truncation", async () => {
  world.fakes.anthropic.enqueue({ kind: "stream", chunks: CHUNKS, errorAfter: 2 });
  const stream = await world.client.chat.completions.create({ model: "claude-sonnet", messages: [{ role: "user", content: "count" }], stream: true });
  let text = "";
  let raised: unknown = null;
  try {
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  } catch (error) {
    raised = error;
  }
  expect(text).toBe("one two ");
  expect(raised).toBeInstanceOf(OpenAI.APIError);
  expect((raised as InstanceType<typeof OpenAI.APIError>).message).toContain("Overloaded");
});
