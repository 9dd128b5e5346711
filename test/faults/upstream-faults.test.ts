// Upstream faults: none gives a 5xx from ParrotRouter itself or a stack trace; each maps to
// a clear OpenAI-shaped upstream error; afterwards no hold is open and balances equal ledgers.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { startFaultyUpstream, type Fault, type FaultyUpstream } from "../fakes/faulty";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";
import { eventually, ledgerState } from "../credits/support";

let faulty: FaultyUpstream;
let fake: FakeOpenAI;
let server: TestServer;
let key: string;
let projectId: string;

beforeAll(async () => {
  faulty = await startFaultyUpstream("reset");
  fake = startFakeOpenAI();
  server = await startTestServer({
    yaml: `
routing: { retries: 0, cooldown_after_failures: 1000 }
providers:
  faulty: { type: openai, base_url: "${faulty.url}", api_key: sk-f, first_byte_timeout_seconds: 0.4, idle_timeout_seconds: 0.4 }
  fake: { type: openai, base_url: "${fake.url}", api_key: sk-f, first_byte_timeout_seconds: 2 }
models:
  faulty:
    routes: [faulty/gpt-4o]
    pricing: { input: 1, output: 1 }
  fake:
    routes: [fake/gpt-4o]
    pricing: { input: 1, output: 1 }
`,
  });
  const created = projectWithKey(server, 5);
  key = created.key.key;
  projectId = created.project.id;
});
afterAll(async () => {
  await server.stop();
  await faulty.close();
  await fake.close();
});

async function call(model: string, stream = false) {
  const response = await fetch(`${server.baseURL}/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "fault" }], stream }),
  });
  return { status: response.status, text: await response.text() };
}

function expectCleanAfter() {
  const state = ledgerState(server, projectId);
  expect(state.balance).toBe(state.sum);
}

describe("TCP-level upstream faults", () => {
  const cases: [Fault, number, string][] = [
    ["reset", 502, "upstream_error"],
    ["garbage", 502, "upstream_error"],
    ["hang", 504, "upstream_timeout"],
    ["truncated-json", 502, "upstream_error"],
  ];
  for (const [fault, status, code] of cases) {
    test(`${fault} → ${status} ${code}`, async () => {
      faulty.fault = fault;
      const result = await call("faulty");
      expect(result.status).toBe(status);
      const body = JSON.parse(result.text);
      expect(body.error.code).toBe(code);
      expect(result.text).not.toMatch(/\bat \S+:\d+/);
      await eventually(() => server.runtime.credits.openHolds() === 0);
      expectCleanAfter();
    });
  }

  test("a slow body still completes", async () => {
    faulty.fault = "slow-body";
    const result = await call("faulty");
    expect(result.status).toBe(200);
    expect(JSON.parse(result.text).choices[0].message.content).toBe("slow but whole");
    expect(server.runtime.credits.openHolds()).toBe(0);
    expectCleanAfter();
  });

  test("a stream that stalls mid-way ends with an SSE error after the idle timeout, charged for what was sent", async () => {
    faulty.fault = "stall-mid-stream";
    const result = await call("faulty", true);
    expect(result.status).toBe(200);
    expect(result.text).toContain("first ");
    expect(result.text).toContain("event: error");
    expect(result.text).toContain("upstream_timeout");
    expect(result.text.trimEnd().endsWith("data: [DONE]")).toBe(true);
    await eventually(() => server.runtime.credits.openHolds() === 0);
    expectCleanAfter();
  });
});

describe("HTTP-level upstream faults", () => {
  test("500, 429 with retry-after, 503 and 529 each become OpenAI-shaped errors", async () => {
    const cases: [number, number, Record<string, string>][] = [
      [500, 502, {}],
      [429, 429, { "retry-after": "7" }],
      [503, 503, {}],
      [529, 503, {}],
    ];
    for (const [upstream, expected, headers] of cases) {
      fake.enqueue({ kind: "error", status: upstream, headers });
      const result = await call("fake");
      expect(result.status).toBe(expected);
      const error = JSON.parse(result.text).error;
      expect(error.message).toBeString();
      expect(error.type).toBeString();
      expect(error.code).toBeString();
      expect(result.text).not.toMatch(/\bat \S+:\d+/);
      // Checked after each fault, so a leaked hold names the upstream status that leaked it.
      const state = ledgerState(server, projectId);
      expect({ upstream, openHolds: server.runtime.credits.openHolds(), balance: state.balance }).toEqual({ upstream, openHolds: 0, balance: state.sum });
    }
  });
});
