// Opens the SQLite database: WAL, busy timeout, foreign keys, and migrations applied.

import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { applyMigrations } from "./migrate";
import * as schema from "./schema";

export type Db = BunSQLiteDatabase<typeof schema>;

export interface DatabaseHandle {
  /** The raw connection, for PRAGMAs, backups and prepared statements. */
  sqlite: Database;
  db: Db;
  close(): void;
}

/** Opens (creating its folder if needed) and migrates the database at `path`. */
export function openDatabase(path: string): DatabaseHandle {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path, { create: true, strict: true });
  sqlite.exec("PRAGMA journal_mode = WAL");
  sqlite.exec("PRAGMA busy_timeout = 5000");
  sqlite.exec("PRAGMA foreign_keys = ON");
  // NORMAL in WAL mode survives a process crash (kill -9); only power loss can drop the last commits.
  sqlite.exec("PRAGMA synchronous = NORMAL");
  const db = drizzle(sqlite, { schema });
  applyMigrations(db as unknown as BunSQLiteDatabase<Record<string, unknown>>);
  return {
    sqlite,
    db,
    close() {
      try {
        sqlite.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      } catch {
        // another connection may hold the WAL; closing is still safe
      }
      sqlite.close();
    },
  };
}
