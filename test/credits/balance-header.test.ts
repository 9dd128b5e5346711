// Every answered request tells the client the project's balance, charged or not (free models,
// explicit-zero usage, test keys), and embeddings carry usage.cost as chat completions do.

import { beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import type { FakeOpenAI } from "../fakes/openai";
import { pricedModelConfig, withFakeOpenAI } from "../support/fake-openai-server";
import type { TestServer } from "../support/server";
import { ledgerState } from "./support";

let fake: FakeOpenAI;
let server: TestServer;
const world = withFakeOpenAI((fakeUrl) =>
  pricedModelConfig(fakeUrl, {
    extraModels: `
  free:
    routes: [up/llama]
  embed:
    routes: [up/text-embedding-3-small]
    pricing: { input: 10 }
  embed-free:
    routes: [up/nomic-embed-text]`,
  }),
);
beforeAll(() => ({ fake, server } = world));

const messages = [{ role: "user" as const, content: "what is my balance" }];

function newClient(creditsUsd: number, env: "live" | "test" = "live") {
  const project = server.createProject(`balance-${crypto.randomUUID().slice(0, 8)}`, creditsUsd);
  const key = server.createKey({ project: project.name, env });
  return { project, client: new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 }) };
}

const usdString = (nanoUsd: number) => (nanoUsd / 1e9).toFixed(9);

describe("x-parrotrouter-balance-usd is sent when nothing was charged", () => {
  test("a free model", async () => {
    const { client, project } = newClient(2);
    const { response } = await client.chat.completions.create({ model: "free", messages }).withResponse();
    expect(response.headers.get("x-parrotrouter-cost-usd")).toBe("0.000000000");
    expect(response.headers.get("x-parrotrouter-balance-usd")).toBe("2.000000000");
    expect(ledgerState(server, project.id).balance).toBe(2_000_000_000);
  });

  test("a free model at zero balance", async () => {
    const { client } = newClient(0);
    const { response } = await client.chat.completions.create({ model: "free", messages }).withResponse();
    expect(response.headers.get("x-parrotrouter-balance-usd")).toBe("0.000000000");
  });

  test("an explicit zero usage from the upstream, after an earlier charge", async () => {
    const { client, project } = newClient(1);
    fake.enqueue({ kind: "ok", usage: { prompt_tokens: 1000, completion_tokens: 0 } }, { kind: "ok", usage: { prompt_tokens: 0, completion_tokens: 0 } });
    await client.chat.completions.create({ model: "priced", messages });
    const { response } = await client.chat.completions.create({ model: "priced", messages }).withResponse();
    expect(response.headers.get("x-parrotrouter-cost-usd")).toBe("0.000000000");
    expect(response.headers.get("x-parrotrouter-balance-usd")).toBe(usdString(ledgerState(server, project.id).balance));
    expect(response.headers.get("x-parrotrouter-balance-usd")).toBe("0.990000000");
  });

  test("a test key answered by the simulator", async () => {
    const { client } = newClient(3, "test");
    const { response } = await client.chat.completions.create({ model: "priced", messages }).withResponse();
    expect(response.headers.get("x-parrotrouter-provider")).toBe("simulator");
    expect(response.headers.get("x-parrotrouter-balance-usd")).toBe("3.000000000");
  });

  test("embeddings on a free model and with a test key", async () => {
    const { client } = newClient(4);
    const free = await client.embeddings.create({ model: "embed-free", input: "hello" }).withResponse();
    expect(free.response.headers.get("x-parrotrouter-balance-usd")).toBe("4.000000000");
    const { client: testClient } = newClient(6, "test");
    const simulated = await testClient.embeddings.create({ model: "embed", input: "hello" }).withResponse();
    expect(simulated.response.headers.get("x-parrotrouter-balance-usd")).toBe("6.000000000");
  });
});

describe("embeddings carry usage.cost", () => {
  test("usage.cost equals x-parrotrouter-cost-usd and the ledger's charge", async () => {
    const { client, project } = newClient(1);
    const { data, response } = await client.embeddings.create({ model: "embed", input: ["one", "two"] }).withResponse();
    // The fake reports 7 prompt tokens per input: 14 × $10/M = $0.00014
    expect(data.usage).toMatchObject({ prompt_tokens: 14, total_tokens: 14 });
    expect((data.usage as unknown as { cost: number }).cost).toBe(0.00014);
    expect(response.headers.get("x-parrotrouter-cost-usd")).toBe("0.000140000");
    expect(response.headers.get("x-parrotrouter-balance-usd")).toBe("0.999860000");
    expect(ledgerState(server, project.id).balance).toBe(999_860_000);
  });

  test("a free embedding model's usage.cost is 0", async () => {
    const { client } = newClient(1);
    const embeddings = await client.embeddings.create({ model: "embed-free", input: "hello" });
    expect((embeddings.usage as unknown as { cost: number }).cost).toBe(0);
  });
});
