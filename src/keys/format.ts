// The API key format of DESIGN.md §1: `pr-<env>-` + 26 uniformly random [a-z0-9] + a
// 6-character CRC-32 checksum, so typos and junk are rejected without a database lookup.

export type KeyEnv = "live" | "test";

const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";
const RANDOM_LENGTH = 26;
const CHECKSUM_LENGTH = 6;
const CHECKSUM_MODULUS = 36 ** CHECKSUM_LENGTH;
/** Bytes ≥ this are rejected so `byte % 36` has no modulo bias (252 = 7 × 36). */
const UNBIASED_BYTE_LIMIT = 252;
const KEY_PATTERN = /^pr-(live|test)-[a-z0-9]{32}$/;

/** CRC-32 of everything before the checksum, modulo 36^6, base36, zero-padded. */
export function keyChecksum(prefixAndRandom: string): string {
  const crc = Bun.hash.crc32(prefixAndRandom) >>> 0;
  return (crc % CHECKSUM_MODULUS).toString(36).padStart(CHECKSUM_LENGTH, "0");
}

/** 26 characters from a cryptographic RNG, by rejection sampling. */
function randomCharacters(count: number): string {
  let out = "";
  while (out.length < count) {
    const bytes = crypto.getRandomValues(new Uint8Array(count * 2));
    for (const byte of bytes) {
      if (byte >= UNBIASED_BYTE_LIMIT) continue;
      out += ALPHABET[byte % 36];
      if (out.length === count) break;
    }
  }
  return out;
}

/** A new secret key for `env`. */
export function generateKey(env: KeyEnv): string {
  const head = `pr-${env}-${randomCharacters(RANDOM_LENGTH)}`;
  return head + keyChecksum(head);
}

/** True when `key` has the right shape and its checksum matches. */
export function isWellFormedKey(key: string): boolean {
  if (!KEY_PATTERN.test(key)) return false;
  const split = key.length - CHECKSUM_LENGTH;
  return keyChecksum(key.slice(0, split)) === key.slice(split);
}

/** The environment a well-formed key belongs to. */
export function keyEnv(key: string): KeyEnv {
  return key.startsWith("pr-live-") ? "live" : "test";
}

/** SHA-256 hex of the secret: the only form the database keeps. */
export function hashKey(key: string): string {
  return Bun.SHA256.hash(key, "hex"); // one native call: this runs on every request
}

/** `pr-live-a1b2…o5p6`: enough to recognise a key, useless to an attacker. */
export function displayKey(key: string): string {
  const prefix = key.slice(0, 8);
  const body = key.slice(8);
  return `${prefix}${body.slice(0, 4)}…${body.slice(-4)}`;
}
