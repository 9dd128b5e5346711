// Per-key spend caps with UTC resets, and the OpenRouter-shaped /v1/key and /v1/credits;
// grants and adjustments through the admin API.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { ManualClock } from "../../src/shared/clock";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { ADMIN_TOKEN, startTestServer, type TestServer } from "../support/server";
import { ledgerState } from "./support";

let fake: FakeOpenAI;
let server: TestServer;
const clock = new ManualClock(Date.UTC(2026, 10, 28, 12, 0, 0));

beforeAll(async () => {
  fake = startFakeOpenAI();
  server = await startTestServer({
    clock,
    yaml: `
providers:
  up: { type: openai, base_url: "${fake.url}", api_key: sk-up }
models:
  priced:
    routes: [up/gpt-4o]
    pricing: { input: 10, output: 10 }
`,
  });
});
afterAll(async () => {
  await server.stop();
  await fake.close();
});
beforeEach(() => fake.reset());

const messages = [{ role: "user" as const, content: "hi" }];
const clientFor = (key: string) => new OpenAI({ apiKey: key, baseURL: server.baseURL, maxRetries: 0 });
/** Each answer reports 1000 tokens: $0.01 at $10/M. */
const oneCent = () => fake.enqueue({ kind: "ok", usage: { prompt_tokens: 500, completion_tokens: 500 } });

describe("per-key spend caps", () => {
  test("a key over its daily cap gets 402 naming the key's limit; other keys go on; the next UTC day it works again", async () => {
    const project = server.createProject("capped", 5);
    const capped = clientFor(server.createKey({ project: "capped", name: "capped", spend_limit_usd: 0.02, limit_reset: "daily" }).key);
    const free = clientFor(server.createKey({ project: "capped", name: "uncapped" }).key);

    for (let i = 0; i < 2; i++) {
      oneCent();
      await capped.chat.completions.create({ model: "priced", messages, max_tokens: 50 });
    }
    const refused = await capped.chat.completions.create({ model: "priced", messages, max_tokens: 50 }).then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
    expect((refused as InstanceType<typeof OpenAI.APIError>).code).toBe("insufficient_credits");
    expect((refused as InstanceType<typeof OpenAI.APIError>).message).toContain("this key's spend limit of $0.020000000 per day");
    expect(fake.requests).toHaveLength(2);

    oneCent();
    await free.chat.completions.create({ model: "priced", messages, max_tokens: 50 });

    clock.advance(24 * 3_600_000);
    oneCent();
    await capped.chat.completions.create({ model: "priced", messages, max_tokens: 50 });
    expect(ledgerState(server, project.id).balance).toBe(5_000_000_000 - 4 * 10_000_000);
  });

  test("an empty project answers the seed's exact 402 even when the key is also over its cap", async () => {
    server.createProject("empty-and-capped", 0.01);
    const key = clientFor(server.createKey({ project: "empty-and-capped", spend_limit_usd: 0.01, limit_reset: "daily" }).key);
    oneCent();
    await key.chat.completions.create({ model: "priced", messages, max_tokens: 50 });
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${(key as unknown as { apiKey: string }).apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "priced", messages, max_tokens: 50 }),
    });
    expect(response.status).toBe(402);
    expect(await response.json()).toEqual({
      error: { message: "Insufficient credits. Please add credits to continue.", type: "payment_required", code: "insufficient_credits", param: null },
    });
  });

  test("a cap without reset is a lifetime cap", async () => {
    server.createProject("lifetime", 5);
    const key = clientFor(server.createKey({ project: "lifetime", spend_limit_usd: 0.015 }).key);
    for (let i = 0; i < 2; i++) {
      oneCent();
      await key.chat.completions.create({ model: "priced", messages, max_tokens: 50 });
    }
    clock.advance(40 * 24 * 3_600_000);
    const refused = await key.chat.completions.create({ model: "priced", messages, max_tokens: 50 }).then(() => null, (e: { status?: number }) => e);
    expect(refused?.status).toBe(402);
  });
});

describe("GET /v1/key and GET /v1/credits", () => {
  test("OpenRouter's field names with this key's limit and spend", async () => {
    server.createProject("info", 3);
    const created = server.createKey({ project: "info", name: "reader", spend_limit_usd: 1, limit_reset: "monthly", rpm: 100, tpm: 50_000 });
    oneCent();
    await clientFor(created.key).chat.completions.create({ model: "priced", messages, max_tokens: 50 });
    const response = await fetch(`${server.baseURL}/key`, { headers: { authorization: `Bearer ${created.key}` } });
    const { data } = (await response.json()) as { data: Record<string, unknown> };
    expect(data).toMatchObject({
      label: created.display,
      name: "reader",
      env: "live",
      scopes: ["inference", "read"],
      limit: 1,
      limit_remaining: 0.99,
      limit_reset: "monthly",
      usage: 0.01,
      usage_daily: 0.01,
      usage_weekly: 0.01,
      usage_monthly: 0.01,
      rate_limit: { requests_per_minute: 100, tokens_per_minute: 50_000 },
    });
    expect(JSON.stringify(data)).not.toContain(created.key);

    const credits = await fetch(`${server.baseURL}/credits`, { headers: { authorization: `Bearer ${created.key}` } });
    expect(await credits.json()).toEqual({ data: { total_credits: 3, total_usage: 0.01, balance: 2.99, available: 2.99 } });
  });
});

describe("grants and adjustments through the admin API", () => {
  const admin = (path: string, body: unknown) =>
    fetch(`${server.url}/admin/api${path}`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body) });

  test("POST /admin/api/projects/{id}/credits adds a grant or an adjustment; balance equals the ledger", async () => {
    const created = (await (await admin("/projects", { name: "granted" })).json()) as { id: string; balance_usd: number };
    expect(created.balance_usd).toBe(5);
    const grant = (await (await admin(`/projects/${created.id}/credits`, { amount_usd: 2.5, note: "top-up" })).json()) as { entry: { kind: string }; balance_usd: number };
    expect(grant.entry.kind).toBe("grant");
    expect(grant.balance_usd).toBe(7.5);
    const adjustment = (await (await admin(`/projects/granted/credits`, { amount_usd: -0.5 })).json()) as { entry: { kind: string }; balance_usd: number };
    expect(adjustment.entry.kind).toBe("adjustment");
    expect(adjustment.balance_usd).toBe(7);
    const state = ledgerState(server, created.id);
    expect(state.balance).toBe(7_000_000_000);
    expect(state.sum).toBe(state.balance);
  });

  test("bad amounts are 400s; unknown projects 404", async () => {
    expect((await admin(`/projects/granted/credits`, { amount_usd: "lots" })).status).toBe(400);
    expect((await admin(`/projects/nope/credits`, { amount_usd: 1 })).status).toBe(404);
  });
});

const adminPost = async (path: string, body: unknown) =>
  (await fetch(`${server.url}/admin/api${path}`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body) })).json() as Promise<
    Record<string, any>
  >;
const refusal = (key: string) => clientFor(key).chat.completions.create({ model: "priced", messages, max_tokens: 50 }).then(() => null, (e: InstanceType<typeof OpenAI.APIError>) => e);
const spendOneCent = async (key: string) => {
  oneCent();
  await clientFor(key).chat.completions.create({ model: "priced", messages, max_tokens: 50 });
};

// Regression: spend was counted per key id, so rotating a key at its cap gave it a fresh cap,
// and during the grace period the old and new secrets had a full cap each.
describe("a rotated key continues its predecessor's spend window", () => {
  test("a key at its daily cap is still 402 after rotation, with the same message; /v1/key shows nothing left", async () => {
    server.createProject("rotated-cap", 5);
    const old = server.createKey({ project: "rotated-cap", spend_limit_usd: 0.02, limit_reset: "daily" });
    for (let i = 0; i < 2; i++) await spendOneCent(old.key);
    const before = await refusal(old.key);
    expect(before?.status).toBe(402);

    const rotated = await adminPost(`/keys/${old.id}/rotate`, { grace_seconds: 3600 });
    const after = await refusal(rotated.key);
    expect(after?.status).toBe(402);
    expect(after?.code).toBe("insufficient_credits");
    expect(after?.message).toBe(before!.message);
    expect((await refusal(old.key))?.status).toBe(402); // the old secret during its grace
    expect(fake.requests).toHaveLength(2);

    const info = await fetch(`${server.baseURL}/key`, { headers: { authorization: `Bearer ${rotated.key}` } });
    expect(((await info.json()) as { data: { limit: number; limit_remaining: number } }).data).toMatchObject({ limit: 0.02, limit_remaining: 0 });
  });

  test("during the grace period the old and new secrets draw on one cap", async () => {
    server.createProject("grace-cap", 5);
    const old = server.createKey({ project: "grace-cap", spend_limit_usd: 0.02, limit_reset: "daily" });
    await spendOneCent(old.key);
    const rotated = await adminPost(`/keys/${old.id}/rotate`, { grace_seconds: 3600 });
    await spendOneCent(rotated.key);
    expect((await refusal(old.key))?.status).toBe(402);
    expect((await refusal(rotated.key))?.status).toBe(402);
    // A second rotation (from the newest key) stays in the same window too.
    const again = await adminPost(`/keys/${rotated.id}/rotate`, {});
    expect((await refusal(again.key))?.status).toBe(402);
    expect(fake.requests).toHaveLength(2);
  });
});

describe("weekly and monthly caps reset at the UTC boundary", () => {
  test("monthly: spend from the 1st still counts on the last day up to its last millisecond; at 00:00 UTC on the 1st it is fresh", async () => {
    server.createProject("monthly", 5);
    const key = server.createKey({ project: "monthly", spend_limit_usd: 0.02, limit_reset: "monthly" }).key;
    clock.set(Date.UTC(2027, 1, 1, 0, 0, 0, 0)); // the first millisecond of February
    await spendOneCent(key);
    clock.set(Date.UTC(2027, 1, 28, 23, 0, 0)); // 27 days later, same month
    await spendOneCent(key);
    clock.set(Date.UTC(2027, 1, 28, 23, 59, 59, 999));
    const refused = await refusal(key);
    expect(refused?.status).toBe(402);
    expect(refused?.message).toContain("spend limit of $0.020000000 per month is reached ($0.020000000 spent");

    clock.set(Date.UTC(2027, 2, 1, 0, 0, 0, 0));
    await spendOneCent(key);
    const info = await fetch(`${server.baseURL}/key`, { headers: { authorization: `Bearer ${key}` } });
    expect(((await info.json()) as { data: Record<string, unknown> }).data).toMatchObject({ limit_remaining: 0.01, usage_monthly: 0.01, usage: 0.03 });
  });

  test("weekly: weeks start on Monday 00:00 UTC; Monday's spend counts through Sunday 23:59:59.999", async () => {
    server.createProject("weekly", 5);
    const key = server.createKey({ project: "weekly", spend_limit_usd: 0.02, limit_reset: "weekly" }).key;
    clock.set(Date.UTC(2027, 2, 1, 0, 0, 0, 0)); // Monday, 1 March 2027
    await spendOneCent(key);
    clock.set(Date.UTC(2027, 2, 7, 23, 0, 0)); // Sunday
    await spendOneCent(key);
    clock.set(Date.UTC(2027, 2, 7, 23, 59, 59, 999));
    const refused = await refusal(key);
    expect(refused?.status).toBe(402);
    expect(refused?.message).toContain("per week");

    clock.set(Date.UTC(2027, 2, 8, 0, 0, 0, 0)); // Monday
    await spendOneCent(key);
  });
});
