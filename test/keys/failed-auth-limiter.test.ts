// The per-IP limit on failed authentications keeps blocking an IP that keeps failing, even when
// a flood of other addresses fills its table.

import { expect, test } from "bun:test";
import { FailedAuthLimiter } from "../../src/keys/rate-limit";

test("a blocked IP stays blocked while 20,000 other addresses fail once each", () => {
  const limiter = new FailedAuthLimiter(20);
  const now = Date.UTC(2026, 10, 29, 12, 0, 0);
  for (let i = 0; i < 21; i++) limiter.recordFailure("203.0.113.7", now);
  expect(limiter.blockedFor("203.0.113.7", now)).toBeGreaterThan(0);
  for (let i = 0; i < 20_000; i++) limiter.recordFailure(`198.51.${(i >> 8) & 255}.${i & 255}-${i}`, now + 1);
  expect(limiter.blockedFor("203.0.113.7", now + 2)).toBeGreaterThan(0);
  // …and the block still lifts with time, as for any IP.
  expect(limiter.blockedFor("203.0.113.7", now + 120_000)).toBe(0);
});
