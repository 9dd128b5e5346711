// OpenAI and OpenAI-compatible upstreams as a pass-through, against a fake OpenAI upstream
// on a free local port: credentials, body fields, model mapping, streaming, disconnects, errors.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";

let fake: FakeOpenAI;
let server: TestServer;
let client: OpenAI;
let clientKey: string;
const UPSTREAM_KEY = "sk-upstream-secret-123";

beforeAll(async () => {
  fake = startFakeOpenAI();
  server = await startTestServer({
    yaml: `
routing: { retries: 0, cooldown_after_failures: 1000 }
providers:
  up: { type: openai-compatible, base_url: "${fake.url}", api_key: "${UPSTREAM_KEY}" }
  dead: { type: openai-compatible, base_url: "http://127.0.0.1:1/v1" }
models:
  gpt-4o:
    routes: [up/gpt-4o-2024-08-06]
    pricing: { input: 2.5, output: 10 }
  unreachable:
    routes: [dead/whatever]
    pricing: { input: 1, output: 1 }
`,
  });
  clientKey = projectWithKey(server).key.key;
  client = new OpenAI({ apiKey: clientKey, baseURL: server.baseURL, maxRetries: 0 });
});
afterAll(async () => {
  await server.stop();
  await fake.close();
});
beforeEach(() => {
  fake.reset();
});

const messages = [{ role: "user" as const, content: "hello upstream" }];

describe("pass-through to an OpenAI-compatible upstream", () => {
  test("the upstream gets the provider's key, never the client's, and every body field", async () => {
    const completion = await client.chat.completions.create({
      model: "gpt-4o",
      messages,
      temperature: 0.3,
      // Fields ParrotRouter knows nothing about must reach the upstream untouched.
      ...({ custom_vendor_field: { nested: [1, 2, 3] }, top_k: 7 } as object),
    });
    expect(completion.choices[0]!.message.content).toBe("Hello from the fake upstream.");
    const received = fake.requests[0]!;
    expect(received.path).toBe("/v1/chat/completions");
    expect(received.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(JSON.stringify(received.headers)).not.toContain(clientKey);
    expect(received.body.custom_vendor_field).toEqual({ nested: [1, 2, 3] });
    expect(received.body.top_k).toBe(7);
    expect(received.body.temperature).toBe(0.3);
    // The configured name is mapped to the route's upstream model.
    expect(received.body.model).toBe("gpt-4o-2024-08-06");
  });

  test("client credentials, cookies and hop-by-hop headers never travel upstream", async () => {
    await client.chat.completions.create(
      { model: "gpt-4o", messages },
      { headers: { cookie: "session=abc", "x-api-key": "client-x-api-key", "proxy-authorization": "Basic Zm9v", te: "trailers", "openai-organization": "org-client" } },
    );
    const headers = fake.requests[0]!.headers;
    for (const name of ["cookie", "x-api-key", "proxy-authorization", "te", "openai-organization"]) expect(headers[name]).toBeUndefined();
    expect(JSON.stringify(headers)).not.toContain("client-x-api-key");
  });

  test("the response says who served it and the model as the upstream reports it", async () => {
    const response = await client.chat.completions.create({ model: "gpt-4o", messages }).withResponse();
    expect(response.response.headers.get("x-parrotrouter-provider")).toBe("up");
    expect(response.response.headers.get("x-parrotrouter-model")).toBe("gpt-4o-2024-08-06");
    expect(response.data.model).toBe("gpt-4o-2024-08-06");
  });

  test("streams ask the upstream for usage and hide the usage chunk from clients that did not", async () => {
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true });
    let text = "";
    for await (const chunk of stream) {
      expect(chunk.usage ?? null).toBeNull();
      text += chunk.choices[0]?.delta.content ?? "";
    }
    expect(text).toBe("Hello from the fake stream.");
    expect(fake.requests[0]!.body.stream_options).toEqual({ include_usage: true });
    expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
  });

  test("bytes are forwarded as they arrive, not buffered to the end", async () => {
    fake.enqueue({ kind: "stream", chunks: ["a", "b", "c", "d"], delayMs: 300 });
    const started = performance.now();
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true });
    let firstContentAt = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content && !firstContentAt) firstContentAt = performance.now() - started;
    }
    const total = performance.now() - started;
    // The first word arrived well before the last: nothing waited for the whole stream.
    expect(total - firstContentAt).toBeGreaterThan(600);
  });

  test("a client that disconnects mid-stream closes the upstream connection", async () => {
    fake.enqueue({ kind: "stream", chunks: Array.from({ length: 50 }, (_, i) => `w${i} `), delayMs: 50 });
    const controller = new AbortController();
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${clientKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", messages, stream: true }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.read();
    expect(fake.openStreams()).toBe(1);
    controller.abort();
    const deadline = Date.now() + 3000;
    while (fake.openStreams() > 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(fake.openStreams()).toBe(0);
    expect(fake.cancelledStreams()).toBeGreaterThanOrEqual(1);
  });
});

describe("upstream failures become OpenAI-shaped errors", () => {
  test("unreachable upstream → 502", async () => {
    const error = await client.chat.completions.create({ model: "unreachable", messages }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).not.toContain("127.0.0.1");
  });

  test("an upstream 400 is passed on with the upstream's message", async () => {
    fake.enqueue({ kind: "error", status: 400, body: { error: { message: "temperature is out of range", type: "invalid_request_error", param: "temperature", code: null } } });
    const error = await client.chat.completions.create({ model: "gpt-4o", messages }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).message).toContain("temperature is out of range");
  });

  test("an upstream 500 → 502 upstream_error; 429 → 429 with retry-after", async () => {
    fake.enqueue({ kind: "error", status: 500 });
    const serverError = await client.chat.completions.create({ model: "gpt-4o", messages }).then(() => null, (e: unknown) => e);
    expect((serverError as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((serverError as InstanceType<typeof OpenAI.APIError>).type).toBe("upstream_error");

    fake.enqueue({ kind: "error", status: 429, headers: { "retry-after": "20" } });
    const limited = await client.chat.completions.create({ model: "gpt-4o", messages }).then(() => null, (e: unknown) => e);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((limited as InstanceType<typeof OpenAI.RateLimitError>).headers?.get("retry-after")).toBe("20");
  });

  test("an upstream redirect is never followed (the provider key must not travel)", async () => {
    fake.enqueue({ kind: "redirect", location: `${fake.url}/chat/completions` });
    const error = await client.chat.completions.create({ model: "gpt-4o", messages }).then(() => null, (e: unknown) => e);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect(fake.requests).toHaveLength(1);
  });

  test("upstream errors leave no hold open", () => {
    expect(server.runtime.credits.openHolds()).toBe(0);
  });
});
