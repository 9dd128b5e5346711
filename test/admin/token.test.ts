// The admin token check: configured or generated, only its SHA-256 kept, and compared as
// equal-length hashes (node:crypto timingSafeEqual), so neither the token's length nor its
// first differing byte changes the work done.

import { describe, expect, spyOn, test } from "bun:test";
import * as crypto from "node:crypto";
import { AdminTokenVerifier, setUpAdminToken } from "../../src/admin/token";
import { startTestServer } from "../support/server";

const sha256 = (value: string) => new Bun.CryptoHasher("sha256").update(value).digest();

describe("AdminTokenVerifier", () => {
  const verifier = new AdminTokenVerifier(sha256("pra-the-real-admin-token"));

  test("accepts the token, refuses everything else (any length, pr- keys, empty)", () => {
    expect(verifier.verify("pra-the-real-admin-token")).toBe(true);
    for (const candidate of ["", "p", "pra-the-real-admin-toke", "pra-the-real-admin-token ", "x".repeat(100_000), "pr-live-pra-the-real-admin-token"]) {
      expect(verifier.verify(candidate)).toBe(false);
    }
  });

  test("every comparison is a constant-time comparison of two 32-byte digests", () => {
    const spy = spyOn(crypto, "timingSafeEqual");
    try {
      for (const candidate of ["short", "pra-the-real-admin-token", "y".repeat(5000)]) verifier.verify(candidate);
      expect(spy).toHaveBeenCalledTimes(3);
      for (const [a, b] of spy.mock.calls) {
        expect((a as Buffer).length).toBe(32);
        expect((b as Buffer).length).toBe(32);
      }
    } finally {
      spy.mockRestore();
    }
  });
});

describe("a generated token", () => {
  test("is announced once, stored as its hash only, and the same on the next start", async () => {
    const server = await startTestServer();
    try {
      const runtime = { ...server.runtime, config: { ...server.runtime.config, adminToken: undefined } };
      const announced: string[] = [];
      const first = setUpAdminToken(runtime, (token) => announced.push(token));
      const second = setUpAdminToken(runtime, (token) => announced.push(token));
      expect(announced).toHaveLength(1);
      expect(first.verify(announced[0]!)).toBe(true);
      expect(second.verify(announced[0]!)).toBe(true);
      const rows = server.runtime.database.sqlite.query("select key, value from settings").all() as { key: string; value: string }[];
      expect(rows).toEqual([{ key: "admin_token_sha256", value: sha256(announced[0]!).toString("hex") }]);
    } finally {
      await server.stop();
    }
  });
});
