// A model that pauses for longer than Bun's default idle timeout (10 s) between two chunks —
// a long tool call, a slow reasoning step — must not have its stream cut by the server.

import { beforeAll, expect, test } from "bun:test";
import OpenAI from "openai";
import type { FakeOpenAI } from "../fakes/openai";
import { withFakeOpenAI } from "../support/fake-openai-server";
import { projectWithKey, type TestServer } from "../support/server";
import { ledgerState } from "../credits/support";

let fake: FakeOpenAI;
let server: TestServer;
const world = withFakeOpenAI((fakeUrl) => `
providers:
  up: { type: openai, base_url: "${fakeUrl}", api_key: sk-up, idle_timeout_seconds: 30 }
models:
  slow: { routes: [up/gpt-4o], pricing: { input: 1, output: 1 } }
`);
beforeAll(() => ({ fake, server } = world));

test("a stream with an 11 s pause between chunks arrives whole and is billed from its usage", async () => {
  const { project, key } = projectWithKey(server);
  fake.enqueue({ kind: "stream", chunks: ["Thinking", " done."], delaysMs: [0, 11_000], usage: { prompt_tokens: 12, completion_tokens: 3 } });
  const client = new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0, timeout: 30_000 });
  const stream = await client.chat.completions.create({ model: "slow", messages: [{ role: "user", content: "think" }], stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  expect(text).toBe("Thinking done.");
  const state = ledgerState(server, project.id);
  expect(state.charges.map((c) => c.amount_nano_usd)).toEqual([-(12 + 3) * 1000]);
  expect(state.balance).toBe(state.sum);
}, 30_000);
