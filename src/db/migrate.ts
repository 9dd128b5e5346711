// Applies the embedded migrations with drizzle's own migrator. The SQL and journal are
// imported as text so the compiled binary carries them (it has no migrations folder).

import { sql } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import journal from "./migrations/meta/_journal.json";
import init0000 from "./migrations/0000_init.sql" with { type: "text" };
import keyLineage0001 from "./migrations/0001_key_lineage.sql" with { type: "text" };
import settlementJournal0002 from "./migrations/0002_settlement_journal.sql" with { type: "text" };
import appliedRequestsIndexed0003 from "./migrations/0003_applied_requests_indexed.sql" with { type: "text" };

/** Every migration's SQL by journal tag; a new migration adds one import and one entry. */
const MIGRATION_SQL: Record<string, string> = {
  "0000_init": init0000,
  "0001_key_lineage": keyLineage0001,
  "0002_settlement_journal": settlementJournal0002,
  "0003_applied_requests_indexed": appliedRequestsIndexed0003,
};

export interface MigrationMeta {
  sql: string[];
  bps: boolean;
  folderMillis: number;
  hash: string;
}

/** The same metadata drizzle's readMigrationFiles builds from the folder. */
export function embeddedMigrations(): MigrationMeta[] {
  return journal.entries.map((entry) => {
    const query = MIGRATION_SQL[entry.tag];
    if (query === undefined) throw new Error(`migration ${entry.tag} is in the journal but not embedded`);
    return {
      sql: query.split("--> statement-breakpoint"),
      bps: entry.breakpoints,
      folderMillis: entry.when,
      hash: new Bun.CryptoHasher("sha256").update(query).digest("hex"),
    };
  });
}

/**
 * Brings the schema up to date; a no-op when it already is. Every pending migration runs in
 * one transaction: a failure leaves the database as it was. (`migrations` is for tests.)
 */
export function applyMigrations(db: BunSQLiteDatabase<Record<string, unknown>>, migrations: MigrationMeta[] = embeddedMigrations()): void {
  refuseNewerSchema(db, migrations);
  const internals = db as unknown as { dialect: { migrate(m: MigrationMeta[], session: unknown, config: object): void }; session: unknown };
  try {
    internals.dialect.migrate(migrations, internals.session, {});
  } catch (error) {
    // Another process (the CLI beside a starting server) may have migrated between our
    // check and our write; its migration rows now exist, so a second pass is a no-op.
    if (!String(error).includes("already exists")) throw error;
    internals.dialect.migrate(migrations, internals.session, {});
  }
}

/**
 * An older binary on a database a newer one migrated would write rows the schema no longer
 * fits (its settlement insert, say, names a unique index the newer schema made partial): every
 * request would be answered and none charged. It refuses to open the database instead.
 */
function refuseNewerSchema(db: BunSQLiteDatabase<Record<string, unknown>>, migrations: MigrationMeta[]): void {
  const [tracked] = db.all<{ n: number }>(sql`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'`);
  if (!tracked?.n) return;
  const last = db.all<{ at: number | null }>(sql`SELECT max(created_at) AS at FROM __drizzle_migrations`)[0]?.at ?? 0;
  const known = Math.max(0, ...migrations.map((m) => m.folderMillis));
  if (last > known) {
    throw new Error(
      `the database was migrated by a newer ParrotRouter (schema of ${new Date(last).toISOString()}, this version knows up to ${new Date(known).toISOString()}); run that version or restore a backup`,
    );
  }
}
