// Money is integer nano-USD everywhere (1 USD = 1,000,000,000); these are the only
// conversions to and from the decimal USD people read and type.

export const NANO_PER_USD = 1_000_000_000;

/** Decimal USD → nano-USD, exact for up to nine decimals. */
export function usdToNano(usd: number): number {
  return Math.round(usd * NANO_PER_USD);
}

/** nano-USD → USD number for JSON answers (people-facing, never stored). */
export function nanoToUsd(nano: number): number {
  return nano / NANO_PER_USD;
}

/** nano-USD → a decimal string with all nine digits kept, e.g. "4.999987500". */
export function nanoToUsdString(nano: number): string {
  const sign = nano < 0 ? "-" : "";
  const abs = Math.abs(nano);
  const whole = Math.floor(abs / NANO_PER_USD);
  // 1e9 + fraction has ten digits; dropping the leading 1 leaves the nine, zero-padded.
  const fraction = String(NANO_PER_USD + (abs % NANO_PER_USD)).slice(1);
  return `${sign}${whole}.${fraction}`;
}

/** tokens × (nano-USD per million tokens), rounded up to the next nano-USD. */
export function costNanoUsd(tokens: number, nanoPerMillion: number): number {
  if (tokens <= 0 || nanoPerMillion <= 0) return 0;
  const product = BigInt(tokens) * BigInt(nanoPerMillion);
  return Number((product + 999_999n) / 1_000_000n);
}
