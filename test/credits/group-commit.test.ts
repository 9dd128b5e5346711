// Group commit: requests finishing together share one write transaction, yet each keeps its
// own usage row and charge, the rollups and balance add up, and every response reports the
// balance right after its own charge. A lone request commits at once.

import { beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import type { FakeOpenAI } from "../fakes/openai";
import { pricedModelConfig, withFakeOpenAI } from "../support/fake-openai-server";
import type { TestServer } from "../support/server";
import { ledgerState, requestRow } from "./support";

let fake: FakeOpenAI;
let server: TestServer;
const world = withFakeOpenAI((fakeUrl) => pricedModelConfig(fakeUrl, { input: 10, output: 20, maxOutputTokens: 100 }));
beforeAll(() => ({ fake, server } = world));

const messages = [{ role: "user" as const, content: "group me" }];
// 10 input tokens at $10/M + 5 output at $20/M = 100,000 + 100,000 nano-USD.
const COST_NANO = 200_000;

function rollup(keyId: string) {
  server.runtime.settlements.catchUp();
  return server.runtime.database.sqlite
    .query("select sum(requests) as requests, sum(cost_nano_usd) as cost, sum(input_tokens) as input from usage_hourly where key_id = ?")
    .get(keyId) as { requests: number; cost: number; input: number };
}

function settlementTransactions(): number {
  return server.runtime.credits.settlementTransactions();
}

describe("group commit", () => {
  test("40 requests answered together: fewer transactions than requests, every row, charge and balance header exact", async () => {
    const project = server.createProject(`group-${crypto.randomUUID().slice(0, 8)}`, 10);
    const key = server.createKey({ project: project.name });
    const client = new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 });
    const startBalance = ledgerState(server, project.id).balance;
    // The upstream answers all of them after the same delay, so they finish in the same turns.
    for (let i = 0; i < 40; i++) fake.enqueue({ kind: "ok", delayMs: 150, usage: { prompt_tokens: 10, completion_tokens: 5 } });
    const transactionsBefore = settlementTransactions();

    const answers = await Promise.all(
      Array.from({ length: 40 }, () => client.chat.completions.create({ model: "priced", messages, max_tokens: 50 }).withResponse()),
    );

    const transactions = settlementTransactions() - transactionsBefore;
    expect(transactions).toBeGreaterThanOrEqual(1);
    expect(transactions).toBeLessThan(40);

    // Each response saw the balance right after its own charge: together they are exactly
    // start − 1·cost, start − 2·cost, … start − 40·cost.
    const balances = answers.map(({ response }) => Math.round(Number(response.headers.get("x-parrotrouter-balance-usd")) * 1e9)).sort((a, b) => b - a);
    expect(balances).toEqual(Array.from({ length: 40 }, (_, i) => startBalance - (i + 1) * COST_NANO));
    for (const { response, data } of answers) {
      expect(response.headers.get("x-parrotrouter-cost-usd")).toBe("0.000200000");
      expect(data.choices[0]!.message.content).toBeString();
    }

    const state = ledgerState(server, project.id);
    expect(state.balance).toBe(startBalance - 40 * COST_NANO);
    expect(state.balance).toBe(state.sum);
    expect(state.charges).toHaveLength(40);
    expect(new Set(state.charges.map((c) => c.request_id)).size).toBe(40);
    for (const charge of state.charges) {
      expect(charge.amount_nano_usd).toBe(-COST_NANO);
      expect(requestRow(server, charge.request_id)?.cost_nano_usd).toBe(COST_NANO);
    }
    expect(rollup(key.id)).toEqual({ requests: 40, cost: 40 * COST_NANO, input: 400 });
    expect(server.runtime.credits.openHolds()).toBe(0);
  });

  test("two projects in one group: each balance moves by its own charges only", async () => {
    const a = server.createProject(`group-a-${crypto.randomUUID().slice(0, 8)}`, 1);
    const b = server.createProject(`group-b-${crypto.randomUUID().slice(0, 8)}`, 2);
    const keyA = server.createKey({ project: a.name });
    const keyB = server.createKey({ project: b.name });
    for (let i = 0; i < 20; i++) fake.enqueue({ kind: "ok", delayMs: 150, usage: { prompt_tokens: 10, completion_tokens: 5 } });
    const send = (key: string) =>
      new OpenAI({ apiKey: key, baseURL: server.baseURL, maxRetries: 0 }).chat.completions.create({ model: "priced", messages }).withResponse();

    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => send(i % 3 === 0 ? keyA.key : keyB.key)));

    const countA = Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 3 === 0).length;
    const stateA = ledgerState(server, a.id);
    const stateB = ledgerState(server, b.id);
    expect(stateA.balance).toBe(1e9 - countA * COST_NANO);
    expect(stateB.balance).toBe(2e9 - (20 - countA) * COST_NANO);
    expect(stateA.balance).toBe(stateA.sum);
    expect(stateB.balance).toBe(stateB.sum);
    const headerBalances = (which: number[]) =>
      which.map((i) => Math.round(Number(answers[i]!.response.headers.get("x-parrotrouter-balance-usd")) * 1e9)).sort((x, y) => y - x);
    const indexesA = Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 3 === 0);
    const indexesB = Array.from({ length: 20 }, (_, i) => i).filter((i) => i % 3 !== 0);
    expect(headerBalances(indexesA)).toEqual(indexesA.map((_, k) => 1e9 - (k + 1) * COST_NANO));
    expect(headerBalances(indexesB)).toEqual(indexesB.map((_, k) => 2e9 - (k + 1) * COST_NANO));
  });

  test("a lone request commits in its own transaction", async () => {
    const project = server.createProject(`group-lone-${crypto.randomUUID().slice(0, 8)}`, 1);
    const key = server.createKey({ project: project.name });
    const client = new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 });
    for (let i = 0; i < 3; i++) {
      fake.enqueue({ kind: "ok", usage: { prompt_tokens: 10, completion_tokens: 5 } });
      const before = settlementTransactions();
      const { response } = await client.chat.completions.create({ model: "priced", messages }).withResponse();
      expect(settlementTransactions() - before).toBe(1);
      expect(Math.round(Number(response.headers.get("x-parrotrouter-balance-usd")) * 1e9)).toBe(1e9 - (i + 1) * COST_NANO);
    }
  });
});

describe("LedgerRepository.settleMany", () => {
  test("duplicates inside and across groups change nothing; uncharged requests keep their rows", () => {
    const ledger = server.runtime.ledger;
    const project = server.createProject(`settle-many-${crypto.randomUUID().slice(0, 8)}`, 1);
    const key = server.createKey({ project: project.name });
    const record = (requestId: string, costNanoUsd: number) => ({
      requestId, projectId: project.id, keyId: key.id, env: "live", endpoint: "chat.completions", model: "priced", provider: "up",
      upstreamModel: "gpt-4o", stream: false, status: 200, inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, costNanoUsd,
      usageSource: "reported" as const, latencyMs: 3, createdAt: Date.now(),
    });
    const id = () => `req_test_${crypto.randomUUID().replaceAll("-", "")}`;
    const [first, second, free] = [id(), id(), id()];

    expect(ledger.settle(record(first, 1000))).toEqual({ duplicate: false });
    expect(ledger.balance(project.id)).toBe(1e9 - 1000);
    const results = ledger.settleMany([
      record(first, 1000), // settled before
      record(second, 2000),
      record(second, 2000), // twice in the same group
      record(free, 0), // not charged
    ]);

    expect(results).toEqual([{ duplicate: true }, { duplicate: false }, { duplicate: true }, { duplicate: false }]);
    const state = ledgerState(server, project.id);
    expect(state.balance).toBe(1e9 - 3000);
    expect(state.balance).toBe(state.sum);
    expect(state.charges.map((c) => c.amount_nano_usd).sort((x, y) => x - y)).toEqual([-2000, -1000]);
    expect(requestRow(server, free)?.cost_nano_usd).toBe(0);
    expect(rollup(key.id)).toEqual({ requests: 3, cost: 3000, input: 30 });
  });
});
