// Online backups: `VACUUM INTO` writes a consistent, compact copy of the live database,
// safe while the server keeps serving (it reads one snapshot; WAL writers are not blocked).

import type { Database } from "bun:sqlite";
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

export function backupDatabase(sqlite: Database, destination: string): void {
  if (existsSync(destination)) throw new Error(`${destination} already exists; choose a new file`);
  mkdirSync(dirname(destination), { recursive: true });
  sqlite.prepare("VACUUM INTO ?").run(destination);
}
