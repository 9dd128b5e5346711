// Embeddings through the server with the openai SDK, for OpenAI, Gemini (batchEmbedContents),
// Azure and the mock. The SDK asks for base64 by default and decodes little-endian float32,
// so its default answer must equal (to float32 precision) what `encoding_format: float` gives.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { eventually, ledgerState, requestRow } from "../credits/support";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";
import { clearRequests, lastRequest, startProviderWorld, type ProviderWorld } from "./support";

let world: ProviderWorld;
beforeAll(async () => {
  // 0.0125 USD per million = 12.5 nano-USD a token: an odd token count leaves half a nano-USD.
  world = await startProviderWorld(`  embed-half-nano:
    routes: [openai/text-embedding-3-small]
    pricing: { input: 0.0125 }
`);
});
afterAll(() => world.stop());

const f32 = (values: number[]) => values.map((v) => Math.fround(v));

/** `expected`: the first input's vector as the fake makes it (the mock's is a hash, so not spelled out). */
const EMBED_CASES = [
  { model: "embed-openai", provider: "openai", expected: [0.1, 0.2, 0.3] },
  { model: "embed-gemini", provider: "gemini", expected: [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08] },
  { model: "embed-azure", provider: "azure", expected: [0.25, -0.5, 0.75] },
  { model: "embed-mock", provider: "sim", expected: null },
] as const;

describe.each(EMBED_CASES)("$model", (c) => {
  test("the SDK's default (base64) decodes to the same vectors as encoding_format: float", async () => {
    const input = ["a parrot", "a macaw"];
    const { data: decoded, response } = await world.client.embeddings.create({ model: c.model, input }).withResponse();
    const floats = await world.client.embeddings.create({ model: c.model, input, encoding_format: "float" });
    expect(decoded.data).toHaveLength(2);
    expect(decoded.data.map((d) => d.index)).toEqual([0, 1]);
    for (const [i, item] of decoded.data.entries()) {
      expect(item.embedding).toEqual(f32(floats.data[i]!.embedding));
    }
    if (c.expected) expect(floats.data[0]!.embedding).toEqual([...c.expected]);
    expect(response.headers.get("x-parrotrouter-provider")).toBe(c.provider);
    expect(Number(response.headers.get("x-parrotrouter-cost-usd"))).toBeGreaterThan(0);
    expect(decoded.usage.prompt_tokens).toBeGreaterThan(0);
  });
});

test("Gemini embeddings go to batchEmbedContents, one request per input, dimensions passed on", async () => {
  clearRequests(world.fakes);
  const result = await world.client.embeddings.create({ model: "embed-gemini", input: ["one", "two", "three"], dimensions: 3 });
  const sent = lastRequest(world.fakes.gemini);
  expect(sent.path).toBe("/v1beta/models/text-embedding-004:batchEmbedContents");
  expect(sent.body.requests).toHaveLength(3);
  expect(sent.body.requests[2]).toEqual({ model: "models/text-embedding-004", content: { parts: [{ text: "three" }] }, outputDimensionality: 3 });
  expect(result.data[2]!.embedding).toEqual(f32([0.03, 0.06, 0.09]));
});

describe("an embeddings request is charged its input tokens × the input price, rounded up to the next nano-USD", () => {
  // The fake OpenAI reports 7 prompt tokens per input.
  const CASES = [
    { model: "embed-openai", input: ["a parrot", "a macaw"], tokens: 14, costNanoUsd: 14 * 20 },
    { model: "embed-half-nano", input: ["a parrot"], tokens: 7, costNanoUsd: 88 }, // 87.5 rounds up
  ];
  test.each(CASES)("$model: $tokens tokens cost $costNanoUsd nano-USD", async (c) => {
    const before = ledgerState(world.server, world.projectId).balance;
    const { data, response } = await world.client.embeddings.create({ model: c.model, input: c.input }).withResponse();
    expect(data.usage.prompt_tokens).toBe(c.tokens);
    expect(response.headers.get("x-parrotrouter-cost-usd")).toBe((c.costNanoUsd / 1e9).toFixed(9));
    const requestId = response.headers.get("x-request-id")!;
    await eventually(() => requestRow(world.server, requestId) !== null);
    expect(requestRow(world.server, requestId)).toMatchObject({ input_tokens: c.tokens, output_tokens: 0, cost_nano_usd: c.costNanoUsd });
    const after = ledgerState(world.server, world.projectId);
    expect(after.charges.find((charge) => charge.request_id === requestId)?.amount_nano_usd).toBe(-c.costNanoUsd);
    expect(before - after.balance).toBe(c.costNanoUsd);
  });
});

describe("an OpenAI-compatible server that ignores encoding_format", () => {
  let ollamaLike: FakeOpenAI;
  let server: TestServer;
  beforeAll(async () => {
    ollamaLike = startFakeOpenAI({ ignoreEncodingFormat: true });
    server = await startTestServer({
      yaml: `
providers:
  local: { type: openai-compatible, base_url: "${ollamaLike.url}" }
models:
  nomic:
    routes: [local/nomic-embed-text]
`,
    });
  });
  afterAll(async () => {
    await server.stop();
    await ollamaLike.close();
  });

  test("float arrays are re-encoded as base64 when the client asked for it, so the SDK reads them right", async () => {
    const client = new OpenAI({ apiKey: projectWithKey(server).key.key, baseURL: server.baseURL, maxRetries: 0 });
    const result = await client.embeddings.create({ model: "nomic", input: "hello" });
    expect(lastRequest(ollamaLike).body.encoding_format).toBe("base64");
    expect(result.data[0]!.embedding).toEqual(f32([0.1, 0.2, 0.3]));
  });
});
