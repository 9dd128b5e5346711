// The hot-path view of API keys: looked up by hash in memory, loaded from the database on a
// miss. Changes made here (revoke, rotate, update) and by other processes invalidate it.

import type { KeyRecord, KeyRepository } from "./repository";

export class KeyCache {
  private readonly byHash = new Map<string, KeyRecord>();
  private readonly pendingLastUsed = new Map<string, number>();

  constructor(private readonly repository: KeyRepository) {}

  /** The key with this hash, or undefined when no such key exists. */
  get(hash: string): KeyRecord | undefined {
    const cached = this.byHash.get(hash);
    if (cached) return cached;
    const found = this.repository.findByHash(hash);
    if (found) this.byHash.set(hash, found);
    return found;
  }

  /** The key with this hash if it is in memory; never reads the database. */
  peek(hash: string): KeyRecord | undefined {
    return this.byHash.get(hash);
  }

  /** Drops every entry; the next lookups read fresh rows. */
  clear(): void {
    this.byHash.clear();
  }

  /** Notes a use in memory; `flushLastUsed` writes them in one batch. */
  touch(key: KeyRecord, at: number): void {
    key.lastUsedAt = at;
    this.pendingLastUsed.set(key.id, at);
  }

  flushLastUsed(): void {
    if (this.pendingLastUsed.size === 0) return;
    const batch = new Map(this.pendingLastUsed);
    this.pendingLastUsed.clear();
    this.repository.recordLastUsed(batch);
  }

  /** The in-memory last-used time of a key id, if newer than the database's. */
  pendingLastUsedOf(id: string): number | undefined {
    return this.pendingLastUsed.get(id);
  }
}
