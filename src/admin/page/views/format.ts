// How the admin page shows money, times and key states to people.

import type { KeyRecord } from "../../../keys/repository";
import { nanoToUsdString } from "../../../shared/money";

/** Exact USD with at least two decimals: `$5.00`, `$4.9999875`, `-$1.50`. */
export function formatUsd(nanoUsd: number): string {
  const text = nanoToUsdString(nanoUsd).replace(/0+$/, "");
  const [whole, fraction = ""] = text.split(".");
  const signless = whole!.replace("-", "");
  return `${nanoUsd < 0 ? "-" : ""}$${signless}.${fraction.padEnd(2, "0")}`;
}

/** UTC, to the second: `2026-11-28 04:20:44`. */
export function formatTime(ms: number | null): string {
  if (ms === null) return "never";
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

export function formatDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export function formatCount(value: number): string {
  return value.toLocaleString("en-US");
}

export type KeyStatus = "active" | "revoked" | "expired" | "rotating";

/** Rotating: replaced, but the old secret still works until its grace period ends. */
export function keyStatus(key: KeyRecord, now: number): KeyStatus {
  if (key.revokedAt !== null && key.revokedAt <= now) return "revoked";
  if (key.expiresAt !== null && key.expiresAt <= now) return "expired";
  if (key.revokedAt !== null) return "rotating";
  return "active";
}
