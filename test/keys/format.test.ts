// The key format of DESIGN.md §1: shape, checksum, unbiased randomness, hash and display form.

import { describe, expect, test } from "bun:test";
import { displayKey, generateKey, hashKey, isWellFormedKey, keyChecksum } from "../../src/keys/format";

describe("key format", () => {
  test("pr-<env>- + 26 random [a-z0-9] + 6-char checksum", () => {
    for (const env of ["live", "test"] as const) {
      const key = generateKey(env);
      expect(key).toMatch(new RegExp(`^pr-${env}-[a-z0-9]{32}$`));
      expect(isWellFormedKey(key)).toBe(true);
    }
  });

  test("checksum is CRC-32 of the prefix and random part, mod 36^6, base36, zero-padded", () => {
    const head = "pr-live-a1b2c3d4e5f6g7h8i9j0k1l2m3";
    const crc = Bun.hash.crc32(head) >>> 0;
    expect(keyChecksum(head)).toBe((crc % 36 ** 6).toString(36).padStart(6, "0"));
    expect(keyChecksum(head)).toHaveLength(6);
  });

  test("a single changed character fails the checksum", () => {
    const key = generateKey("live");
    for (let i = 8; i < key.length; i++) {
      const swapped = key.slice(0, i) + (key[i] === "a" ? "b" : "a") + key.slice(i + 1);
      expect(isWellFormedKey(swapped)).toBe(false);
    }
    expect(isWellFormedKey(key.replace("pr-live-", "pr-prod-"))).toBe(false);
    expect(isWellFormedKey(key.toUpperCase())).toBe(false);
    expect(isWellFormedKey(key + "0")).toBe(false);
  });

  test("random characters are spread evenly over all 36 symbols", () => {
    const counts = new Map<string, number>();
    const samples = 4000;
    for (let i = 0; i < samples; i++) for (const ch of generateKey("live").slice(8, 34)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(36);
    const expected = (samples * 26) / 36;
    // Chi-square with 35 degrees of freedom: 99.99th percentile ≈ 75. A modulo bias would blow far past it.
    let chi = 0;
    for (const count of counts.values()) chi += (count - expected) ** 2 / expected;
    expect(chi).toBeLessThan(75);
  });

  test("hash is SHA-256 hex; display shows only the ends", () => {
    const key = "pr-live-a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6";
    expect(hashKey(key)).toBe(new Bun.CryptoHasher("sha256").update(key).digest("hex"));
    expect(displayKey(key)).toBe("pr-live-a1b2…o5p6");
  });
});
