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

/** How long a key's last client IP is trusted before it is read again (it costs a system call). */
const LAST_IP_REFRESH_MS = 1_000;

export class KeyAuthenticator {
  /** Key hash → the client IP it last authenticated from, and when that was read. */
  private readonly lastIpByHash = new Map<string, { ip: string; at: number }>();

  constructor(
    private readonly cache: KeyCache,
    private readonly failures: FailedAuthLimiter,
  ) {}

  /**
   * The active key behind `secret`; throws 401 (or 429 for an IP that keeps failing).
   * `clientIp` is asked only when needed: while an IP may be blocked (a failure in the last
   * minute), on a failure, and to refresh a key's last IP once a second (reading it is a
   * system call per request).
   */
  authenticate(secret: string, clientIp: () => string, now: number): KeyRecord {
    // A key in memory is known to be well formed: only a miss pays for the shape and checksum
    // check, which keeps junk from reaching the database.
    const hashed = secret ? hashKey(secret) : "";
    const cached = hashed ? this.cache.peek(hashed) : undefined;
    const hash = cached || (secret && isWellFormedKey(secret)) ? hashed : "";
    let ip: string | undefined;
    const ipOf = () => (ip ??= clientIp());
    const blockedMs = this.failures.mayBlock(now) ? this.failures.blockedFor(ipOf(), now) : 0;
    // A blocked IP may still use a key whose last successful use came from it (a healthy app
    // behind the same NAT as a misconfigured one is not slowed); every other attempt waits, so
    // the block is no oracle telling a guesser which of its candidate keys are real.
    if (blockedMs > 0 && (!hash || this.lastIpByHash.get(hash)?.ip !== ipOf())) {
      throw new ApiError({
        code: "rate_limit_exceeded",
        message: `Too many failed authentication attempts. Try again in ${formatResetDuration(blockedMs)}.`,
        headers: { "retry-after": String(Math.ceil(blockedMs / 1000)) },
      });
    }
    if (!secret) throw SEED_ERRORS.missingKey();
    const key = cached ?? (hash ? this.cache.get(hash) : undefined);
    if (!key || isKeyInactive(key, now)) {
      this.failures.recordFailure(ipOf(), now);
      throw SEED_ERRORS.invalidKey();
    }
    const last = this.lastIpByHash.get(hash);
    if (!last || ip !== undefined || now - last.at >= LAST_IP_REFRESH_MS) this.lastIpByHash.set(hash, { ip: ipOf(), at: now });
    this.cache.touch(key, now);
    return key;
  }
}
