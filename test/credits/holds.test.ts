// Holds before forwarding: concurrent requests never overspend, 402s carry the right message,
// every exit path releases its hold, and settlement is idempotent per request id.

import { beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { worstCaseCost } from "../../src/credits/pricing";
import { estimatePromptTokens } from "../../src/shared/tokens";
import type { FakeOpenAI } from "../fakes/openai";
import { PRICED_MODEL_PRICING, pricedModelConfig, projectClient, withFakeOpenAI } from "../support/fake-openai-server";
import type { TestServer } from "../support/server";
import { eventually, ledgerState, requestRow } from "./support";

let fake: FakeOpenAI;
let server: TestServer;
const world = withFakeOpenAI((fakeUrl) =>
  pricedModelConfig(fakeUrl, {
    failingProviders: true,
    extraModels: `
  free:
    routes: [up/llama]`,
  }),
);
beforeAll(() => ({ fake, server } = world));

const messages = [{ role: "user" as const, content: "count my credits" }];
const pricing = PRICED_MODEL_PRICING;

const newClient = (creditsUsd: number) => projectClient(server, "holds", creditsUsd);

describe("concurrent requests against a small balance", () => {
  test("50 requests released together, balance for exactly 3 holds: at most 3 reach the upstream", async () => {
    const body = { model: "priced", messages, max_tokens: 1000 };
    const hold = worstCaseCost(estimatePromptTokens(body), 1000, pricing);
    const { project, key } = newClient((3 * hold + hold / 2) / 1e9);
    for (let i = 0; i < 50; i++) fake.enqueue({ kind: "ok", delayMs: 300, usage: { prompt_tokens: 10, completion_tokens: 100 } });

    // A barrier: every request is built first, then all are sent in the same tick.
    let release!: () => void;
    const barrier = new Promise<void>((resolve) => (release = resolve));
    const pending = Array.from({ length: 50 }, async () => {
      await barrier;
      return fetch(`${server.baseURL}/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    });
    release();
    const responses = await Promise.all(pending);
    const statuses = responses.map((r) => r.status);
    const ok = statuses.filter((s) => s === 200).length;
    expect(ok).toBeLessThanOrEqual(3);
    expect(ok).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === 402).length).toBe(50 - ok);
    expect(fake.requests.length).toBe(ok);
    const state = ledgerState(server, project.id);
    expect(state.balance).toBeGreaterThanOrEqual(0);
    expect(state.balance).toBe(state.sum);
    expect(state.charges).toHaveLength(ok);
    expect(server.runtime.credits.openHolds()).toBe(0);
  });
});

describe("402 insufficient_credits", () => {
  test("balance ≤ 0 gets the seed's exact body", async () => {
    const { key } = newClient(0);
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.key}` },
      body: JSON.stringify({ model: "priced", messages }),
    });
    expect(response.status).toBe(402);
    expect(await response.json()).toEqual({
      error: { message: "Insufficient credits. Please add credits to continue.", type: "payment_required", code: "insufficient_credits", param: null },
    });
    expect(fake.requests).toHaveLength(0);
  });

  test("no max_tokens and a worst case above the balance → 402 naming affordable max_tokens; upstream sees nothing", async () => {
    // The model's max_output_tokens (1000) at $10/M is $0.01; give it a third of that.
    const { client } = newClient(0.003);
    const error = await client.chat.completions.create({ model: "priced", messages }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const apiError = error as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.status).toBe(402);
    expect(apiError.code).toBe("insufficient_credits");
    expect(apiError.message).toMatch(/You requested up to 1000 tokens, but can only afford \d+\./);
    const affordable = Number(apiError.message.match(/can only afford (\d+)/)![1]);
    expect(affordable).toBeGreaterThan(250);
    expect(affordable).toBeLessThan(300);
    expect(fake.requests).toHaveLength(0);
    // Asking for what it can afford goes through.
    const ok = await client.chat.completions.create({ model: "priced", messages, max_tokens: affordable });
    expect(ok.choices).toHaveLength(1);
  });

  test("a model priced 0 works at zero balance", async () => {
    const { client } = newClient(0);
    const completion = await client.chat.completions.create({ model: "free", messages });
    expect((completion.usage as unknown as { cost: number }).cost).toBe(0);
  });
});

describe("every exit path releases its hold", () => {
  test("upstream 500, first-byte timeout, connection refused and client abort leave no open hold", async () => {
    const { client, key } = newClient(1);
    fake.enqueue({ kind: "error", status: 500 });
    expect((await client.chat.completions.create({ model: "priced", messages }).then(() => null, (e: { status?: number }) => e))?.status).toBe(502);
    expect(server.runtime.credits.openHolds()).toBe(0);

    fake.enqueue({ kind: "hang" });
    expect((await client.chat.completions.create({ model: "timeout", messages }).then(() => null, (e: { status?: number }) => e))?.status).toBe(504);
    expect(server.runtime.credits.openHolds()).toBe(0);

    expect((await client.chat.completions.create({ model: "refused", messages }).then(() => null, (e: { status?: number }) => e))?.status).toBe(502);
    expect(server.runtime.credits.openHolds()).toBe(0);

    fake.enqueue({ kind: "ok", delayMs: 2000 });
    const controller = new AbortController();
    const aborted = fetch(`${server.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.key}` },
      body: JSON.stringify({ model: "priced", messages }),
      signal: controller.signal,
    }).catch(() => "aborted");
    await eventually(() => server.runtime.credits.openHolds() === 1);
    controller.abort();
    expect(await aborted).toBe("aborted");
    await eventually(() => server.runtime.credits.openHolds() === 0);
  });
});

describe("settlement", () => {
  test("the response's usage carries cost and headers carry cost and balance; balance equals the ledger", async () => {
    const { client, project } = newClient(1);
    fake.enqueue({ kind: "ok", usage: { prompt_tokens: 1000, completion_tokens: 500 } });
    const { data, response } = await client.chat.completions.create({ model: "priced", messages }).withResponse();
    // 1500 tokens × $10/M = $0.015
    expect((data.usage as unknown as { cost: number }).cost).toBe(0.015);
    expect(response.headers.get("x-parrotrouter-cost-usd")).toBe("0.015000000");
    expect(response.headers.get("x-parrotrouter-balance-usd")).toBe("0.985000000");
    const state = ledgerState(server, project.id);
    expect(state.balance).toBe(985_000_000);
    expect(state.sum).toBe(state.balance);
    const row = requestRow(server, response.headers.get("x-request-id")!);
    expect(row).toMatchObject({ cost_nano_usd: 15_000_000, usage_source: "reported", status: 200, input_tokens: 1000, output_tokens: 500 });
  });

  test("an explicit zero from the upstream is charged as zero", async () => {
    const { client, project } = newClient(1);
    fake.enqueue({ kind: "ok", usage: { prompt_tokens: 0, completion_tokens: 0 } });
    const { response } = await client.chat.completions.create({ model: "priced", messages }).withResponse();
    expect(response.headers.get("x-parrotrouter-cost-usd")).toBe("0.000000000");
    expect(requestRow(server, response.headers.get("x-request-id")!)?.usage_source).toBe("reported");
    expect(ledgerState(server, project.id).balance).toBe(1_000_000_000);
  });

  test("settling the same request twice leaves one ledger row and an unchanged balance", async () => {
    const { project, key } = newClient(1);
    const model = server.runtime.config.models.priced!;
    const record = {
      requestId: "req_twice",
      projectId: project.id,
      keyId: key.id,
      env: "live",
      endpoint: "chat.completions",
      model: "priced",
      provider: "up",
      upstreamModel: "gpt-4o",
      stream: false,
      status: 200,
      inputTokens: 100,
      outputTokens: 100,
      cachedInputTokens: 0,
      usageSource: "reported" as const,
      latencyMs: 1,
      createdAt: Date.now(),
    };
    const usage = { inputTokens: 100, outputTokens: 100, cachedInputTokens: 0 };
    const keyRecord = server.runtime.keyCache.get(new Bun.CryptoHasher("sha256").update(key.key).digest("hex"))!;
    const place = () => server.runtime.credits.placeHold({ key: keyRecord, model, inputTokens: 100, maxOutputTokens: 100, charge: true }, Date.now());
    const first = server.runtime.credits.settle(place(), record, usage, model);
    const second = server.runtime.credits.settle(place(), record, usage, model);
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    const state = ledgerState(server, project.id);
    expect(state.charges.filter((c) => c.request_id === "req_twice")).toHaveLength(1);
    expect(state.balance).toBe(1_000_000_000 - 2_000_000);
    expect(state.sum).toBe(state.balance);
    expect(server.runtime.credits.openHolds()).toBe(0);
  });
});
