// The admin token: from config (or PARROTROUTER_ADMIN_TOKEN through it), else generated at
// first start, printed once, and only its hash stored. Compared in constant time.

import { timingSafeEqual } from "node:crypto";
import { SettingsRepository } from "../db/settings-repository";
import type { Runtime } from "../runtime";

const SETTING = "admin_token_sha256";

const sha256 = (value: string) => new Bun.CryptoHasher("sha256").update(value).digest();

export class AdminTokenVerifier {
  constructor(private readonly expectedHash: Buffer) {}

  /** Constant-time comparison of hashes, so timing reveals nothing about the token. */
  verify(candidate: string): boolean {
    if (!candidate || candidate.startsWith("pr-")) return false;
    return timingSafeEqual(sha256(candidate), this.expectedHash);
  }
}

/**
 * The verifier for this server. Generates and prints a token when none is configured and
 * none was generated before; `announce` receives it (once, at first start).
 */
export function setUpAdminToken(runtime: Runtime, announce: (token: string) => void): AdminTokenVerifier {
  if (runtime.config.adminToken) return new AdminTokenVerifier(sha256(runtime.config.adminToken));
  const settings = new SettingsRepository(runtime.database.db);
  const stored = settings.get(SETTING);
  if (stored) return new AdminTokenVerifier(Buffer.from(stored, "hex"));
  const token = `pra-${Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString("base64url")}`;
  const hash = sha256(token).toString("hex");
  const winner = settings.setIfAbsent(SETTING, hash);
  if (winner === hash) announce(token);
  return new AdminTokenVerifier(Buffer.from(winner, "hex"));
}
