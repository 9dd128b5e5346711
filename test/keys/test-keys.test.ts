// Test keys (pr-test-): with `test_keys: simulate` (the default) the simulator answers every
// configured model in the same wire format, usage is recorded as env `test`, nothing is
// charged or refused for credits, and no upstream is ever called. With `test_keys: live` they
// are routed and charged like live keys.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { startTestServer, type TestServer } from "../support/server";
import { ledgerState } from "../credits/support";
import { chat, expectError, messages, v1 } from "./support";

let fake: FakeOpenAI;
beforeAll(() => {
  fake = startFakeOpenAI();
});
afterAll(() => fake.close());
beforeEach(() => fake.reset());

/** Every model routes to a real-looking upstream: the fake OpenAI, or an Anthropic one. */
const upstreamYaml = (testKeys: string) => `
test_keys: ${testKeys}
providers:
  up: { type: openai, base_url: "${fake.url}", api_key: sk-up }
  anth: { type: anthropic, base_url: "${fake.url}", api_key: sk-ant }
models:
  gpt-4o: { routes: [up/gpt-4o], pricing: { input: 2.5, output: 10 } }
  claude-sonnet: { routes: [anth/claude-sonnet-4-5, up/gpt-4o], pricing: { input: 3, output: 15 } }
  text-embedding-3-small: { routes: [up/text-embedding-3-small], pricing: { input: 0.02 } }
`;

/** A project at `creditsUsd` with a test key and a live key. */
function projectWithKeys(server: TestServer, creditsUsd: number, keyOptions: Record<string, unknown> = {}) {
  const project = server.createProject(`p-${crypto.randomUUID().slice(0, 8)}`, creditsUsd);
  return {
    project,
    test: server.createKey({ project: project.name, env: "test", ...keyOptions }),
    live: server.createKey({ project: project.name, env: "live", ...keyOptions }),
  };
}

const requestRows = (server: TestServer, keyId: string) =>
  server.runtime.database.sqlite.query("select env, cost_nano_usd, provider, status from requests where key_id = ?").all(keyId) as { env: string; cost_nano_usd: number; provider: string; status: number }[];

describe("test keys in simulate mode (the default)", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ yaml: upstreamYaml("simulate") });
  });
  afterAll(() => server.stop());

  test("every configured chat model is answered by the simulator in OpenAI's shape; the upstream counts zero requests", async () => {
    const { test: key } = projectWithKeys(server, 5);
    const client = new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 });
    for (const model of ["gpt-4o", "claude-sonnet"]) {
      const { data: completion, response } = await client.chat.completions.create({ model, messages }).withResponse();
      expect(completion.object).toBe("chat.completion");
      expect(completion.choices[0]!.message.content).toContain("ParrotRouter simulator");
      expect(completion.usage!.prompt_tokens).toBeGreaterThan(0);
      expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
      expect(response.headers.get("x-parrotrouter-provider")).toBe("simulator");
      expect(response.headers.get("x-parrotrouter-cost-usd")).toBe("0.000000000");
    }
    expect(fake.requests).toHaveLength(0);
  });

  test("streaming works the same, usage chunk included", async () => {
    const { test: key } = projectWithKeys(server, 5);
    const client = new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: "claude-sonnet", messages, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      text += chunk.choices[0]?.delta.content ?? "";
      usage = chunk.usage ?? usage;
    }
    expect(text).toContain("ParrotRouter simulator");
    expect(usage!.completion_tokens).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(0);
  });

  test("embeddings are simulated too", async () => {
    const { test: key } = projectWithKeys(server, 5);
    const client = new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 });
    const result = await client.embeddings.create({ model: "text-embedding-3-small", input: ["a parrot", "a macaw"] });
    expect(result.data).toHaveLength(2);
    expect(result.data[0]!.embedding.length).toBeGreaterThan(0);
    expect(result.usage.prompt_tokens).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(0);
  });

  test("at balance 0 a test key is served while the live key of the same project gets 402", async () => {
    const { project, test: testKey, live } = projectWithKeys(server, 0);
    expect((await v1(server, testKey.key, "POST", "/chat/completions", chat("gpt-4o", { max_tokens: undefined }))).status).toBe(200);
    expect((await v1(server, testKey.key, "POST", "/embeddings", { model: "text-embedding-3-small", input: "x" })).status).toBe(200);
    expectError(await v1(server, live.key, "POST", "/chat/completions", chat("gpt-4o")), 402, "insufficient_credits");
    expect(ledgerState(server, project.id).balance).toBe(0);
    expect(fake.requests).toHaveLength(0);
  });

  test("usage is recorded as env test, at zero cost, and no ledger charge is written", async () => {
    const { project, test: key } = projectWithKeys(server, 5);
    for (let i = 0; i < 3; i++) await v1(server, key.key, "POST", "/chat/completions", chat("gpt-4o"));
    const rows = requestRows(server, key.id);
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row).toEqual({ env: "test", cost_nano_usd: 0, provider: "simulator", status: 200 });
    const ledger = ledgerState(server, project.id);
    expect(ledger.charges).toEqual([]);
    expect(ledger.balance).toBe(5_000_000_000);

    const testUsage = (await v1(server, key.key, "GET", "/usage?env=test&group_by=key")).body.data;
    expect(testUsage).toEqual([expect.objectContaining({ key: key.id, requests: 3, cost_usd: 0 })]);
    expect((await v1(server, key.key, "GET", "/usage?env=live")).body.data).toEqual([]);
    expect((await v1(server, key.key, "GET", "/key")).body.data).toMatchObject({ env: "test", usage: 0 });
  });

  test("scopes and allow-lists still apply to test keys", async () => {
    const { test: readOnly } = projectWithKeys(server, 5, { scopes: ["read"] });
    expectError(await v1(server, readOnly.key, "POST", "/chat/completions", chat("gpt-4o")), 403, "insufficient_scope");
    const { test: claudeOnly } = projectWithKeys(server, 5, { models: ["claude-*"] });
    expectError(await v1(server, claudeOnly.key, "POST", "/chat/completions", chat("gpt-4o")), 403, "model_not_allowed");
    expectError(await v1(server, claudeOnly.key, "POST", "/chat/completions", chat("gpt-5")), 404, "model_not_found");
  });
});

describe("test keys with test_keys: live", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ yaml: upstreamYaml("live") });
  });
  afterAll(() => server.stop());

  test("are routed to the real upstream and charged like live keys, recorded as env test", async () => {
    const { project, test: key } = projectWithKeys(server, 5);
    fake.enqueue({ kind: "ok", usage: { prompt_tokens: 1000, completion_tokens: 1000 } });
    const result = await v1(server, key.key, "POST", "/chat/completions", chat("gpt-4o"));
    expect(result.status).toBe(200);
    expect(result.body.choices[0].message.content).toBe("Hello from the fake upstream.");
    expect(fake.requests).toHaveLength(1);
    // 1000 × $2.50/M + 1000 × $10/M = $0.0125
    expect(requestRows(server, key.id)).toEqual([{ env: "test", cost_nano_usd: 12_500_000, provider: "up", status: 200 }]);
    const ledger = ledgerState(server, project.id);
    expect(ledger.charges.map((c) => c.amount_nano_usd)).toEqual([-12_500_000]);
    expect(ledger.balance).toBe(5_000_000_000 - 12_500_000);
  });

  test("are refused with 402 at balance 0, before any upstream call", async () => {
    const { test: key } = projectWithKeys(server, 0);
    expectError(await v1(server, key.key, "POST", "/chat/completions", chat("gpt-4o")), 402, "insufficient_credits");
    expect(fake.requests).toHaveLength(0);
  });
});
