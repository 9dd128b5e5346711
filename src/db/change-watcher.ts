// Notices writes made by other processes (the CLI granting credits or revoking a key while
// the server runs) so in-memory caches can drop what may be stale. SQLite's data_version
// changes only when another connection commits, so our own writes never trigger it.

import type { Database } from "bun:sqlite";

/** Each check is a read transaction (two file-lock calls): a few µs a lone request need not pay. */
const CHECK_INTERVAL_MS = 10;

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
   * Called once per authenticated request. Cheap (no disk I/O in WAL mode), but once per 10 ms
   * is enough: another process's revoke or grant still takes effect for every request that
   * arrives more than 10 ms after it committed (the CLI itself takes longer to start).
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
