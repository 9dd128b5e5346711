// strategy: weighted through the running server: a seeded random source makes the split
// reproducible, so the tolerance only has to cover the draw itself, never a flaky run.

import { afterAll, beforeAll, expect, test } from "bun:test";
import OpenAI from "openai";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";
import { recordingSeams } from "./seams";

let heavy: FakeOpenAI;
let light: FakeOpenAI;
let server: TestServer;
let client: OpenAI;

beforeAll(async () => {
  heavy = startFakeOpenAI();
  light = startFakeOpenAI();
  server = await startTestServer({
    routing: recordingSeams({ seed: 7 }),
    yaml: `
routing: { retries: 0 }
providers:
  heavy: { type: openai, base_url: "${heavy.url}", api_key: sk-h }
  light: { type: openai, base_url: "${light.url}", api_key: sk-l }
models:
  split:
    strategy: weighted
    routes:
      - { target: heavy/gpt-4o, weight: 3 }
      - { target: light/gpt-4o, weight: 1 }
    pricing: { input: 0, output: 0 }
`,
  });
  client = new OpenAI({ apiKey: projectWithKey(server, 5).key.key, baseURL: server.baseURL, maxRetries: 0 });
});
afterAll(async () => {
  await server.stop();
  await Promise.all([heavy.close(), light.close()]);
});

const REQUESTS = 400;

test("weights 3:1 send about three quarters of the requests to the heavy route", async () => {
  const served: Record<string, number> = { heavy: 0, light: 0 };
  for (let sent = 0; sent < REQUESTS; sent += 25) {
    const batch = Array.from({ length: 25 }, () =>
      client.chat.completions.create({ model: "split", messages: [{ role: "user", content: "hi" }] }).withResponse(),
    );
    for (const { response } of await Promise.all(batch)) served[response.headers.get("x-parrotrouter-provider")!]!++;
  }
  expect(served.heavy! + served.light!).toBe(REQUESTS);
  expect(heavy.requests.length).toBe(served.heavy!);
  // Expected 300 ± a binomial σ of ~8.7; the seed fixes the draw, the bound leaves room for seed changes.
  expect(served.heavy!).toBeGreaterThan(270);
  expect(served.heavy!).toBeLessThan(330);
});

test("when the drawn route fails, the other one answers", async () => {
  light.reset();
  heavy.enqueue(...Array.from({ length: 10 }, () => ({ kind: "error" as const, status: 500 })));
  for (let i = 0; i < 10; i++) {
    const { response } = await client.chat.completions.create({ model: "split", messages: [{ role: "user", content: "hi" }] }).withResponse();
    expect(response.headers.get("x-parrotrouter-provider")).toBe("light");
  }
  expect(light.requests).toHaveLength(10);
});
