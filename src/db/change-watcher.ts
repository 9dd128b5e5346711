// Notices writes made by other processes (the CLI granting credits or revoking a key while
// the server runs) so in-memory caches can drop what may be stale. SQLite's data_version
// changes only when another connection commits, so our own writes never trigger it.

import type { Database } from "bun:sqlite";

export class ExternalChangeWatcher {
  private readonly statement;
  private lastVersion: number;
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

  /** Cheap (no disk I/O in WAL mode); called once per authenticated request. */
  check(): void {
    const version = this.read();
    if (version === this.lastVersion) return;
    this.lastVersion = version;
    for (const listener of this.listeners) listener();
  }
}
