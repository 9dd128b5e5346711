// Model allow-lists: globs like `claude-*` decide which models a key may call, /v1/models
// lists exactly those, and OpenRouter's `models: [...]` fallbacks never reach another one.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";
import { chat, expectError, v1 } from "./support";

let fake: FakeOpenAI;
let server: TestServer;

/** A port nothing listens on: a route there fails at once with a retryable connection error. */
function closedPort(): number {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

beforeAll(async () => {
  fake = startFakeOpenAI();
  server = await startTestServer({
    yaml: `
routing: { allow_direct: true, retries: 0 }
providers:
  up: { type: openai, base_url: "${fake.url}", api_key: sk-up }
  down: { type: openai, base_url: "http://127.0.0.1:${closedPort()}/v1", api_key: sk-down }
models:
  claude-haiku: { routes: [up/claude-haiku-up], pricing: { input: 1, output: 1 } }
  claude-sonnet: { routes: [up/claude-sonnet-up], pricing: { input: 3, output: 15 } }
  claude-broken: { routes: [down/claude-broken-up], pricing: { input: 1, output: 1 } }
  gpt-4o: { routes: [up/gpt-4o-up], pricing: { input: 2.5, output: 10 } }
  meta/llama: { routes: [up/llama-up], pricing: { input: 1, output: 1 } }
  text-embedding-3-small: { routes: [up/embed-up], pricing: { input: 0.02 } }
`,
  });
});
afterAll(async () => {
  await server.stop();
  await fake.close();
});
beforeEach(() => fake.reset());

const keyWith = (models: string[] | null) => projectWithKey(server, 5, { models }).key;
const upstreamModels = () => fake.requests.map((r) => r.body.model);
const listed = async (key: string) => ((await v1(server, key, "GET", "/models")).body.data as { id: string }[]).map((m) => m.id).sort();

describe("a key with an allow-list calls only matching models", () => {
  test("claude-* allows claude-haiku and refuses gpt-4o with 403 model_not_allowed, before any upstream call", async () => {
    const key = keyWith(["claude-*"]);
    expect((await v1(server, key.key, "POST", "/chat/completions", chat("claude-haiku"))).status).toBe(200);
    const refused = await v1(server, key.key, "POST", "/chat/completions", chat("gpt-4o"));
    expectError(refused, 403, "model_not_allowed", "permission_error");
    expect(refused.body.error.param).toBe("model");
    expect(upstreamModels()).toEqual(["claude-haiku-up"]);
  });

  test("embeddings obey the allow-list too", async () => {
    const key = keyWith(["claude-*"]);
    expectError(await v1(server, key.key, "POST", "/embeddings", { model: "text-embedding-3-small", input: "x" }), 403, "model_not_allowed");
    expect(fake.requests).toHaveLength(0);
  });

  test("the openai SDK surfaces it as PermissionDeniedError", async () => {
    const client = new OpenAI({ apiKey: keyWith(["claude-*"]).key, baseURL: server.baseURL, maxRetries: 0 });
    const error = await client.chat.completions.create(chat("gpt-4o")).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((error as InstanceType<typeof OpenAI.PermissionDeniedError>).code).toBe("model_not_allowed");
  });

  test("an unknown model is still 404 model_not_found, whatever the allow-list", async () => {
    expectError(await v1(server, keyWith(["claude-*"]).key, "POST", "/chat/completions", chat("claude-nope")), 404, "model_not_found");
  });

  test("a direct provider/model name (allow_direct) is checked against the allow-list, not waved through", async () => {
    const key = keyWith(["claude-*"]);
    expectError(await v1(server, key.key, "POST", "/chat/completions", chat("up/gpt-4o-up")), 403, "model_not_allowed");
    expect(fake.requests).toHaveLength(0);
    expect((await v1(server, keyWith(null).key, "POST", "/chat/completions", chat("up/gpt-4o-up"))).status).toBe(200);
  });
});

describe("glob semantics", () => {
  test("* matches any run of characters, slashes included: ['*'] opens every model", async () => {
    const key = keyWith(["*"]);
    expect(await listed(key.key)).toEqual(["claude-broken", "claude-haiku", "claude-sonnet", "gpt-4o", "meta/llama", "text-embedding-3-small"]);
    expect((await v1(server, key.key, "POST", "/chat/completions", chat("meta/llama"))).status).toBe(200);
  });

  test("? matches one character; names are case-sensitive; an exact name matches only itself", async () => {
    expect(await listed(keyWith(["gpt-4?"]).key)).toEqual(["gpt-4o"]);
    expect(await listed(keyWith(["CLAUDE-*"]).key)).toEqual([]);
    expect(await listed(keyWith(["gpt-4"]).key)).toEqual([]);
    expect(await listed(keyWith(["meta/*", "gpt-4o"]).key)).toEqual(["gpt-4o", "meta/llama"]);
  });

  // Regression: with Bun.Glob, a pattern starting with "!" was a negation that matched every
  // other name, so ["claude-*", "!claude-sonnet"] silently opened gpt-4o and everything else.
  test("'!' is not a negation that widens the list: ['claude-*', '!claude-sonnet'] does not open gpt-4o", async () => {
    const key = keyWith(["claude-*", "!claude-sonnet"]);
    expectError(await v1(server, key.key, "POST", "/chat/completions", chat("gpt-4o")), 403, "model_not_allowed");
    expect(await listed(key.key)).toEqual(["claude-broken", "claude-haiku", "claude-sonnet"]);
  });

  test("braces and brackets are literal, not alternations", async () => {
    expect(await listed(keyWith(["{gpt-4o,meta/llama}"]).key)).toEqual([]);
    expect(await listed(keyWith(["gpt-4[o]"]).key)).toEqual([]);
  });

  test("an empty allow-list allows nothing", async () => {
    const key = keyWith([]);
    expect(await listed(key.key)).toEqual([]);
    expectError(await v1(server, key.key, "POST", "/chat/completions", chat("claude-haiku")), 403, "model_not_allowed");
  });
});

describe("/v1/models shows exactly the models this key may call", () => {
  test("the list is the allow-list's matches; without an allow-list, every configured model", async () => {
    expect(await listed(keyWith(["claude-*"]).key)).toEqual(["claude-broken", "claude-haiku", "claude-sonnet"]);
    expect(await listed(keyWith(null).key)).toEqual(["claude-broken", "claude-haiku", "claude-sonnet", "gpt-4o", "meta/llama", "text-embedding-3-small"]);
  });

  // 403, not 404: chat completions already answer 403 model_not_allowed for the same name (and
  // 404 for unknown ones), so a 404 here would hide nothing and would contradict them; 403 tells
  // the developer the fix (ask for a wider allow-list) instead of suggesting a typo.
  test("/v1/models/{id}: allowed → the model, disallowed → 403 model_not_allowed, unknown → 404", async () => {
    const key = keyWith(["claude-*"]);
    const allowed = await v1(server, key.key, "GET", "/models/claude-haiku");
    expect(allowed.status).toBe(200);
    expect(allowed.body).toMatchObject({ id: "claude-haiku", object: "model" });
    expectError(await v1(server, key.key, "GET", "/models/gpt-4o"), 403, "model_not_allowed", "permission_error");
    expectError(await v1(server, key.key, "GET", "/models/nope"), 404, "model_not_found");
    const slashed = await v1(server, keyWith(["meta/*"]).key, "GET", "/models/meta%2Fllama");
    expect(slashed.body.id).toBe("meta/llama");
  });
});

describe("OpenRouter's models: [...] fallbacks never route to a disallowed model", () => {
  test("a failing primary falls back past a disallowed model to the next allowed one", async () => {
    const key = keyWith(["claude-*"]);
    const result = await v1(server, key.key, "POST", "/chat/completions", chat("claude-broken", { models: ["gpt-4o", "claude-haiku"] }));
    expect(result.status).toBe(200);
    expect(result.headers.get("x-parrotrouter-model")).toBe("claude-haiku-up");
    expect(upstreamModels()).toEqual(["claude-haiku-up"]);
  });

  test("when the only fallbacks are disallowed, the request fails and gpt-4o's upstream never sees it", async () => {
    const key = keyWith(["claude-*"]);
    const result = await v1(server, key.key, "POST", "/chat/completions", chat("claude-broken", { models: ["gpt-4o", "meta/llama"] }));
    expect(result.status).toBeGreaterThanOrEqual(500);
    expect(fake.requests).toHaveLength(0);
  });

  test("a disallowed primary is refused even when its fallbacks are allowed", async () => {
    const key = keyWith(["claude-*"]);
    expectError(await v1(server, key.key, "POST", "/chat/completions", chat("gpt-4o", { models: ["claude-haiku"] })), 403, "model_not_allowed");
    expect(fake.requests).toHaveLength(0);
  });

  test("streaming fallbacks obey the same rule", async () => {
    const key = keyWith(["claude-*"]);
    const result = await v1(server, key.key, "POST", "/chat/completions", chat("claude-broken", { models: ["gpt-4o", "claude-sonnet"], stream: true }));
    expect(result.status).toBe(200);
    expect(result.body).toContain("data: [DONE]");
    expect(upstreamModels()).toEqual(["claude-sonnet-up"]);
  });
});
