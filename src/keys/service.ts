// Issuing, rotating and revoking keys: the secret is generated here, returned once, and only
// its hash and display form are stored.

import { ApiError } from "../shared/errors";
import { newId } from "../projects/repository";
import { displayKey, generateKey, hashKey } from "./format";
import type { KeyCache } from "./cache";
import type { KeyRecord, KeyRepository, KeySettings } from "./repository";

export interface IssuedKey {
  record: KeyRecord;
  /** The secret, shown exactly once. */
  secret: string;
}

export class KeyService {
  constructor(
    private readonly repository: KeyRepository,
    private readonly cache: KeyCache,
  ) {}

  create(settings: KeySettings, now: number): IssuedKey {
    return this.issue(settings, now);
  }

  /**
   * A new secret with the same settings; the old one works for `graceSeconds` more. The new
   * key joins the old one's lineage: it continues its spend window and shares its rate limits.
   */
  rotate(id: string, graceSeconds: number, now: number): IssuedKey {
    const old = this.mustFind(id);
    if (old.revokedAt !== null && old.revokedAt <= now) {
      throw new ApiError({ code: "invalid_request", message: "A revoked key cannot be rotated" });
    }
    const issued = this.issue(old, now, old.lineageId);
    this.repository.revoke(id, now + Math.max(0, graceSeconds) * 1000, issued.record.id);
    this.cache.clear();
    return issued;
  }

  revoke(id: string, now: number): KeyRecord {
    this.mustFind(id);
    this.repository.revoke(id, now);
    this.cache.clear();
    return this.mustFind(id);
  }

  update(id: string, changes: Parameters<KeyRepository["update"]>[1]): KeyRecord {
    this.mustFind(id);
    this.repository.update(id, changes);
    this.cache.clear();
    return this.mustFind(id);
  }

  find(id: string): KeyRecord | undefined {
    const record = this.repository.findById(id);
    if (record) record.lastUsedAt = this.cache.pendingLastUsedOf(id) ?? record.lastUsedAt;
    return record;
  }

  list(projectId?: string): KeyRecord[] {
    return this.repository.list(projectId).map((record) => ({ ...record, lastUsedAt: this.cache.pendingLastUsedOf(record.id) ?? record.lastUsedAt }));
  }

  private issue(settings: KeySettings, now: number, lineageId?: string): IssuedKey {
    const secret = generateKey(settings.env);
    const id = newId("key");
    this.repository.insert(id, settings, hashKey(secret), displayKey(secret), now, lineageId);
    return { record: this.mustFind(id), secret };
  }

  private mustFind(id: string): KeyRecord {
    const record = this.find(id);
    if (!record) throw new ApiError({ code: "not_found", message: `No key with id ${id}` });
    return record;
  }
}

/** True when the key is revoked or expired at `now`. */
export function isKeyInactive(key: KeyRecord, now: number): boolean {
  return (key.revokedAt !== null && key.revokedAt <= now) || (key.expiresAt !== null && key.expiresAt <= now);
}
