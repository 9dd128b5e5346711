// Notices writes made by other processes (the CLI granting credits or revoking a key while
// the server runs) so in-memory caches can drop what may be stale. SQLite's data_version
// changes only when another connection commits, so our own writes never trigger it.

import type { Database } from "bun:sqlite";

const CHECK_INTERVAL_MS = 1;

export class ExternalChangeWatcher {
  private readonly statement;
  private lastVersion: number;
  private lastCheckedMs = 0;
  private readonly listeners: (() => void)[] = [];

  constructor(sqlite: Database) {
    this.statement = sqlite.prepare<{ data_version: number }, []>("PRAGMA data_version");
    this.lastVersion = this.read();
  }

  private read(): number {
    return this.statement.get()?.data_version ?? 0;
  }

  /** Runs `listener` whenever another process has committed since the last check. */
  onExternalChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * Called once per authenticated request. Cheap (no disk I/O in WAL mode), but under load
   * once per millisecond is enough: another process's revoke or grant still takes effect for
   * every request that arrives more than a millisecond after it committed.
   */
  check(): void {
    const nowMs = performance.now();
    if (nowMs - this.lastCheckedMs < CHECK_INTERVAL_MS) return;
    this.lastCheckedMs = nowMs;
    const version = this.read();
    if (version === this.lastVersion) return;
    this.lastVersion = version;
    for (const listener of this.listeners) listener();
  }
}
