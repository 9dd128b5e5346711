// Prices in USD per million tokens, costs in integer nano-USD rounded up once per request.

import { describe, expect, test } from "bun:test";
import { affordableOutputTokens, costOfUsage, worstCaseCost } from "../../src/credits/pricing";
import { costNanoUsd, nanoToUsdString, usdToNano } from "../../src/shared/money";

const pricing = { inputNanoPerMillion: usdToNano(2.5), outputNanoPerMillion: usdToNano(10), cachedInputNanoPerMillion: usdToNano(1.25) };

describe("pricing", () => {
  test("cost = tokens × price, in nano-USD", () => {
    // 1000 input × $2.50/M = $0.0025; 500 output × $10/M = $0.005
    expect(costOfUsage({ inputTokens: 1000, outputTokens: 500, cachedInputTokens: 0 }, pricing)).toBe(7_500_000);
  });

  test("cached input tokens are billed at the cached price", () => {
    // 600 uncached × 2.5 + 400 cached × 1.25 = 1500 + 500 = 2000 nano per thousand… → 2,000,000 nano
    expect(costOfUsage({ inputTokens: 1000, outputTokens: 0, cachedInputTokens: 400 }, pricing)).toBe(2_000_000);
  });

  test("fractions of a nano-USD round up, once per request", () => {
    const tiny = { inputNanoPerMillion: usdToNano(0.15), outputNanoPerMillion: usdToNano(0.6), cachedInputNanoPerMillion: 0 };
    // 1 input token at $0.15/M = 150 nano exactly; 1 output token = 600 nano
    expect(costOfUsage({ inputTokens: 1, outputTokens: 1, cachedInputTokens: 0 }, tiny)).toBe(750);
    const odd = { inputNanoPerMillion: 1, outputNanoPerMillion: 0, cachedInputNanoPerMillion: 0 };
    expect(costOfUsage({ inputTokens: 3, outputTokens: 0, cachedInputTokens: 0 }, odd)).toBe(1);
    expect(costNanoUsd(1, 1)).toBe(1);
  });

  test("an explicit zero usage costs exactly zero; free models cost nothing", () => {
    expect(costOfUsage({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 }, pricing)).toBe(0);
    expect(costOfUsage({ inputTokens: 10_000, outputTokens: 10_000, cachedInputTokens: 0 }, { inputNanoPerMillion: 0, outputNanoPerMillion: 0, cachedInputNanoPerMillion: 0 })).toBe(0);
  });

  test("huge counts stay exact (no float drift)", () => {
    const expensive = { inputNanoPerMillion: usdToNano(150), outputNanoPerMillion: usdToNano(600), cachedInputNanoPerMillion: 0 };
    expect(costOfUsage({ inputTokens: 9_999_999, outputTokens: 7_777_777, cachedInputTokens: 0 }, expensive)).toBe(1_499_999_850_000 + 4_666_666_200_000);
  });

  test("the fast path agrees with exact BigInt arithmetic, on both sides of 2^53", () => {
    // A seeded generator: the same 20,000 cases every run.
    let seed = 42;
    const next = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
    const exact = (u: { inputTokens: number; outputTokens: number; cachedInputTokens: number }, p: typeof pricing) => {
      const cached = BigInt(Math.min(u.cachedInputTokens, u.inputTokens));
      const sum = (BigInt(u.inputTokens) - cached) * BigInt(p.inputNanoPerMillion) + cached * BigInt(p.cachedInputNanoPerMillion) + BigInt(u.outputTokens) * BigInt(p.outputNanoPerMillion);
      return Number((sum + 999_999n) / 1_000_000n);
    };
    for (let i = 0; i < 20_000; i++) {
      const scale = i % 2 === 0 ? 1e4 : 1e9; // small requests, and products far past 2^53
      const usage = { inputTokens: Math.floor(next() * scale), outputTokens: Math.floor(next() * scale), cachedInputTokens: Math.floor(next() * scale) };
      const prices = { inputNanoPerMillion: Math.floor(next() * 1e11), outputNanoPerMillion: Math.floor(next() * 1e11), cachedInputNanoPerMillion: Math.floor(next() * 1e10) };
      expect(costOfUsage(usage, prices)).toBe(exact(usage, prices));
    }
  });

  test("worst case and what a balance can afford", () => {
    expect(worstCaseCost(100, 1000, pricing)).toBe(250_000 + 10_000_000);
    expect(affordableOutputTokens(250_000 + 5_000_000, 100, pricing)).toBe(500);
  });

  test("USD conversions keep nine digits", () => {
    expect(usdToNano(5)).toBe(5_000_000_000);
    expect(nanoToUsdString(4_999_987_500)).toBe("4.999987500");
    expect(nanoToUsdString(-1)).toBe("-0.000000001");
  });
});
