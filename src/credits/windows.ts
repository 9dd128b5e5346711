// The UTC windows a key's spend limit resets on.

import type { LimitReset } from "../keys/repository";

const DAY_MS = 86_400_000;

export function startOfUtcDay(now: number): number {
  return Math.floor(now / DAY_MS) * DAY_MS;
}

/** Weeks start on Monday, 00:00 UTC. */
export function startOfUtcWeek(now: number): number {
  const day = startOfUtcDay(now);
  const weekday = (new Date(day).getUTCDay() + 6) % 7;
  return day - weekday * DAY_MS;
}

export function startOfUtcMonth(now: number): number {
  const date = new Date(now);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
}

/** Where the current limit window began; 0 (all time) when the limit never resets. */
export function windowStart(reset: LimitReset | null, now: number): number {
  if (reset === "daily") return startOfUtcDay(now);
  if (reset === "weekly") return startOfUtcWeek(now);
  if (reset === "monthly") return startOfUtcMonth(now);
  return 0;
}
