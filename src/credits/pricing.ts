// What a request costs: configured USD-per-million prices applied to token counts, in
// integer nano-USD rounded up once per request.

import type { ModelPricing } from "../config/load";
import type { Usage } from "../providers/types";

const PER_MILLION = 1_000_000n;

/**
 * A count fit for the exact arithmetic below. Usage is checked where it enters (usageFromCounts);
 * this is the last guard, since a negative count would credit the project and a fractional or
 * non-finite one would make BigInt throw and leave the request unsettled.
 */
function wholeTokens(tokens: number): number {
  return tokens > 0 ? Math.ceil(Math.min(tokens, Number.MAX_SAFE_INTEGER)) : 0;
}

/** The exact cost of `usage`, rounded up to the next nano-USD: never negative, never throws. */
export function costOfUsage(usage: Usage, pricing: ModelPricing): number {
  const inputTokens = wholeTokens(usage.inputTokens);
  const cached = Math.min(wholeTokens(usage.cachedInputTokens), inputTokens);
  const uncached = inputTokens - cached;
  const outputTokens = wholeTokens(usage.outputTokens);
  // Plain numbers are exact while every product and the sum stay within 2^53 (any realistic
  // request); BigInt only for the rest. Same result either way, a fraction of the cost.
  const inputPart = uncached * pricing.inputNanoPerMillion;
  const cachedPart = cached * pricing.cachedInputNanoPerMillion;
  const outputPart = outputTokens * pricing.outputNanoPerMillion;
  const sum = inputPart + cachedPart + outputPart;
  if (Number.isSafeInteger(inputPart) && Number.isSafeInteger(cachedPart) && Number.isSafeInteger(outputPart) && Number.isSafeInteger(sum)) {
    const remainder = sum % 1_000_000;
    return (sum - remainder) / 1_000_000 + (remainder > 0 ? 1 : 0);
  }
  const numerator =
    BigInt(uncached) * BigInt(pricing.inputNanoPerMillion) +
    BigInt(cached) * BigInt(pricing.cachedInputNanoPerMillion) +
    BigInt(outputTokens) * BigInt(pricing.outputNanoPerMillion);
  return Number((numerator + PER_MILLION - 1n) / PER_MILLION);
}

/** The worst case a hold must cover: every prompt token uncached plus the full output allowance. */
export function worstCaseCost(inputTokens: number, maxOutputTokens: number, pricing: ModelPricing): number {
  return costOfUsage({ inputTokens, outputTokens: maxOutputTokens, cachedInputTokens: 0 }, pricing);
}

/** How many output tokens `availableNanoUsd` pays for after the prompt. */
export function affordableOutputTokens(availableNanoUsd: number, inputTokens: number, pricing: ModelPricing): number {
  const inputCost = costOfUsage({ inputTokens, outputTokens: 0, cachedInputTokens: 0 }, pricing);
  const left = availableNanoUsd - inputCost;
  if (left <= 0) return 0;
  if (pricing.outputNanoPerMillion === 0) return Number.MAX_SAFE_INTEGER;
  return Number((BigInt(left) * PER_MILLION) / BigInt(pricing.outputNanoPerMillion));
}

/** True when nothing about this model costs money: it works at zero balance. */
export function isFree(pricing: ModelPricing): boolean {
  return pricing.inputNanoPerMillion === 0 && pricing.outputNanoPerMillion === 0 && pricing.cachedInputNanoPerMillion === 0;
}
