// Turns an Authorization header into a key, with the seed's exact errors: nothing sent →
// missing_api_key; malformed, bad checksum, unknown, revoked or expired → invalid_api_key.

import { ApiError, SEED_ERRORS } from "../shared/errors";
import { formatResetDuration, type FailedAuthLimiter } from "./rate-limit";
import { hashKey, isWellFormedKey } from "./format";
import type { KeyCache } from "./cache";
import type { KeyRecord } from "./repository";
import { isKeyInactive } from "./service";

/** The bearer token of an Authorization header, or "" when there is none. */
export function bearerToken(header: string | null): string {
  if (!header) return "";
  // The common shape, without the regular expression (every request goes through here).
  if (header.startsWith("Bearer ") && header.charCodeAt(7) > 32) return header.slice(7).trim();
  const match = header.match(/^\s*bearer(?:\s+(.*)|\s*)$/i);
  if (match) return (match[1] ?? "").trim();
  return header.trim();
}

export class KeyAuthenticator {
  /** Key hash → the client IP it last authenticated from. */
  private readonly lastIpByHash = new Map<string, string>();

  constructor(
    private readonly cache: KeyCache,
    private readonly failures: FailedAuthLimiter,
  ) {}

  /** The active key behind `secret`; throws 401 (or 429 for an IP that keeps failing). */
  authenticate(secret: string, clientIp: string, now: number): KeyRecord {
    const hash = secret && isWellFormedKey(secret) ? hashKey(secret) : "";
    const blockedMs = this.failures.blockedFor(clientIp, now);
    // A blocked IP may still use a key whose last successful use came from it (a healthy app
    // behind the same NAT as a misconfigured one is not slowed); every other attempt waits, so
    // the block is no oracle telling a guesser which of its candidate keys are real.
    if (blockedMs > 0 && (!hash || this.lastIpByHash.get(hash) !== clientIp)) {
      throw new ApiError({
        code: "rate_limit_exceeded",
        message: `Too many failed authentication attempts. Try again in ${formatResetDuration(blockedMs)}.`,
        headers: { "retry-after": String(Math.ceil(blockedMs / 1000)) },
      });
    }
    if (!secret) throw SEED_ERRORS.missingKey();
    const key = hash ? this.cache.get(hash) : undefined;
    if (!key || isKeyInactive(key, now)) {
      this.failures.recordFailure(clientIp, now);
      throw SEED_ERRORS.invalidKey();
    }
    if (this.lastIpByHash.get(hash) !== clientIp) this.lastIpByHash.set(hash, clientIp);
    this.cache.touch(key, now);
    return key;
  }
}
