// In-memory token buckets: requests and tokens per minute per key lineage (a rotated key
// shares its predecessor's), with OpenAI's x-ratelimit-* headers; failed authentications per IP.

import type { KeyRecord } from "./repository";

/** A bucket that holds up to `capacity` and refills it evenly over a minute. */
class MinuteBucket {
  private level: number;
  private updatedAt: number;

  constructor(
    public capacity: number,
    now: number,
  ) {
    this.level = capacity;
    this.updatedAt = now;
  }

  /**
   * A new limit keeps exactly what was used (the level may go below zero, a debt that refills):
   * otherwise two keys of one lineage with different limits would refill the shared bucket by turns.
   */
  resize(capacity: number, now: number): void {
    this.refill(now);
    this.level = capacity - (this.capacity - this.level);
    this.capacity = capacity;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.level = Math.min(this.capacity, this.level + (elapsed * this.capacity) / 60_000);
    this.updatedAt = now;
  }

  /** Takes `amount` if available; returns false (taking nothing) otherwise. */
  take(amount: number, now: number): boolean {
    this.refill(now);
    if (this.level < Math.min(amount, this.capacity)) return false;
    this.level -= amount;
    return true;
  }

  /** Gives back what a request did not use. */
  give(amount: number, now: number): void {
    this.refill(now);
    this.level = Math.min(this.capacity, this.level + amount);
  }

  remaining(now: number): number {
    this.refill(now);
    return Math.max(0, Math.floor(this.level));
  }

  /** Milliseconds until `amount` is available again. */
  msUntil(amount: number, now: number): number {
    this.refill(now);
    const missing = Math.min(amount, this.capacity) - this.level;
    return missing <= 0 ? 0 : Math.ceil((missing * 60_000) / this.capacity);
  }

  /** Milliseconds until the bucket is full: OpenAI's `x-ratelimit-reset-*`. */
  msUntilFull(now: number): number {
    this.refill(now);
    return Math.ceil(((this.capacity - this.level) * 60_000) / this.capacity);
  }
}

/** OpenAI's duration format for reset headers: `1s`, `6m0s`, `20ms`. */
export function formatResetDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}

export interface KeyLimits {
  rpm: number | null;
  tpm: number | null;
}

/** A key's own limits, else the config's defaults (`rate_limits:`); null means unlimited. */
export function effectiveLimits(key: { rpm: number | null; tpm: number | null }, defaults: { rpm?: number; tpm?: number }): KeyLimits {
  return { rpm: key.rpm ?? defaults.rpm ?? null, tpm: key.tpm ?? defaults.tpm ?? null };
}

export interface Admission {
  /** Response headers for a limited key (empty when the key has no limits). */
  headers: Record<string, string>;
  /** Gives back tokens reserved but not used, once the real count is known. */
  settleTokens(actualTokens: number, now: number): void;
}

export class KeyRateLimiter {
  private readonly requestBuckets = new Map<string, MinuteBucket>();
  private readonly tokenBuckets = new Map<string, MinuteBucket>();

  private bucket(map: Map<string, MinuteBucket>, id: string, capacity: number, now: number): MinuteBucket {
    let bucket = map.get(id);
    if (!bucket) {
      bucket = new MinuteBucket(capacity, now);
      map.set(id, bucket);
    } else if (bucket.capacity !== capacity) {
      bucket.resize(capacity, now);
    }
    return bucket;
  }

  /**
   * Admits one request of about `tokens` tokens or returns the wait in ms. Both limits are
   * checked before either is charged, so a refusal costs nothing. `lineageId` is the key's
   * `KeyRecord.lineageId`, so a rotated key and its predecessor draw on one budget.
   */
  admit(lineageId: string, limits: KeyLimits, tokens: number, now: number): Admission | { retryAfterMs: number; headers: Record<string, string> } {
    const requests = limits.rpm ? this.bucket(this.requestBuckets, lineageId, limits.rpm, now) : undefined;
    const tokenBucket = limits.tpm ? this.bucket(this.tokenBuckets, lineageId, limits.tpm, now) : undefined;
    const waitRequests = requests?.msUntil(1, now) ?? 0;
    const waitTokens = tokenBucket?.msUntil(tokens, now) ?? 0;
    if (waitRequests > 0 || waitTokens > 0) {
      return { retryAfterMs: Math.max(waitRequests, waitTokens), headers: this.headers(requests, tokenBucket, now) };
    }
    requests?.take(1, now);
    tokenBucket?.take(tokens, now);
    return {
      headers: this.headers(requests, tokenBucket, now),
      settleTokens: (actual, later) => {
        if (tokenBucket && actual < tokens) tokenBucket.give(tokens - actual, later);
        else if (tokenBucket && actual > tokens) tokenBucket.take(Math.min(actual - tokens, tokenBucket.remaining(later)), later);
      },
    };
  }

  /**
   * The x-ratelimit-* headers of a key as its budget stands, taking nothing: for the responses
   * that do not count against the limits (models, key info, credits, usage, and errors raised
   * before admission). Empty when the key has no limits and `defaults` set none.
   */
  currentHeaders(key: Pick<KeyRecord, "lineageId" | "rpm" | "tpm">, defaults: { rpm?: number; tpm?: number }, now: number): Record<string, string> {
    const limits = effectiveLimits(key, defaults);
    const requests = limits.rpm ? this.bucket(this.requestBuckets, key.lineageId, limits.rpm, now) : undefined;
    const tokens = limits.tpm ? this.bucket(this.tokenBuckets, key.lineageId, limits.tpm, now) : undefined;
    return this.headers(requests, tokens, now);
  }

  private headers(requests: MinuteBucket | undefined, tokens: MinuteBucket | undefined, now: number): Record<string, string> {
    const headers: Record<string, string> = {};
    if (requests) {
      headers["x-ratelimit-limit-requests"] = String(requests.capacity);
      headers["x-ratelimit-remaining-requests"] = String(requests.remaining(now));
      headers["x-ratelimit-reset-requests"] = formatResetDuration(requests.msUntilFull(now));
    }
    if (tokens) {
      headers["x-ratelimit-limit-tokens"] = String(tokens.capacity);
      headers["x-ratelimit-remaining-tokens"] = String(tokens.remaining(now));
      headers["x-ratelimit-reset-tokens"] = formatResetDuration(tokens.msUntilFull(now));
    }
    return headers;
  }
}

/** Failed authentications per client IP: a guesser is slowed, nobody else is. */
const MAX_TRACKED_IPS = 10_000;

export class FailedAuthLimiter {
  private readonly buckets = new Map<string, MinuteBucket>();
  private lastFailureAt = -Infinity;

  constructor(private readonly perMinute = 20) {}

  /**
   * False when no IP can be blocked: nothing failed within the last minute, so every bucket
   * has refilled (then they are dropped). Lets a request skip reading its client IP.
   */
  mayBlock(now: number): boolean {
    if (this.buckets.size === 0) return false;
    if (now - this.lastFailureAt < 60_000) return true;
    this.buckets.clear();
    return false;
  }

  /** Milliseconds this IP must wait before trying again, 0 when it may try now. */
  blockedFor(ip: string, now: number): number {
    const bucket = this.buckets.get(ip);
    return bucket ? bucket.msUntil(1, now) : 0;
  }

  recordFailure(ip: string, now: number): void {
    this.lastFailureAt = Math.max(this.lastFailureAt, now);
    let bucket = this.buckets.get(ip);
    if (!bucket) {
      if (this.buckets.size >= MAX_TRACKED_IPS) this.forgetIdle(now);
      bucket = new MinuteBucket(this.perMinute, now);
      this.buckets.set(ip, bucket);
    }
    bucket.take(1, now);
  }

  /**
   * Bounds memory under a spray of addresses: IPs that are not blocked go first, so a flood of
   * new addresses cannot lift the block of one that keeps failing; only if every tracked IP is
   * blocked do the oldest make room.
   */
  private forgetIdle(now: number): void {
    // A full scan, but only when the table is full; a blocked-only table (a sustained spray)
    // is the rare case where each new address pays it.
    for (const [ip, bucket] of this.buckets) if (bucket.msUntil(1, now) === 0) this.buckets.delete(ip);
    for (const ip of this.buckets.keys()) {
      if (this.buckets.size < MAX_TRACKED_IPS) break;
      this.buckets.delete(ip);
    }
  }
}
