// The database: embedded migrations applied idempotently, WAL with busy timeout and foreign
// keys, its folder created, and no key secret stored anywhere.

import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Database } from "bun:sqlite";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { openDatabase } from "../../src/db/connection";
import { applyMigrations, embeddedMigrations, type MigrationMeta } from "../../src/db/migrate";
import { KeyCache } from "../../src/keys/cache";
import { KeyRepository } from "../../src/keys/repository";
import { KeyService } from "../../src/keys/service";
import { ProjectRepository } from "../../src/projects/repository";
import { SettlementApplier } from "../../src/credits/settlement-applier";

/** These tests settle no requests: there is nothing for a catch-up to apply. */
const noPendingSettlements = { catchUp: () => 0, watermark: () => 0 };

const freshPath = () => join(mkdtempSync(join(tmpdir(), "parrotrouter-db-")), "nested", "folder", "p.db");

describe("openDatabase", () => {
  test("creates the folder, uses WAL, a busy timeout and foreign keys", () => {
    const path = freshPath();
    const handle = openDatabase(path);
    expect(existsSync(path)).toBe(true);
    const pragma = (name: string) => Object.values(handle.sqlite.query(`PRAGMA ${name}`).get() as object)[0];
    expect(pragma("journal_mode")).toBe("wal");
    expect(pragma("busy_timeout")).toBe(5000);
    expect(pragma("foreign_keys")).toBe(1);
    const tables = (handle.sqlite.query("select name from sqlite_master where type='table'").all() as { name: string }[]).map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining(["projects", "api_keys", "ledger_entries", "requests", "usage_hourly"]));
    expect(() => handle.sqlite.run("insert into api_keys (id, project_id, name, env, key_hash, display, scopes, created_at) values ('k','missing','n','live','h','d','[]',0)")).toThrow();
    handle.close();
  });

  test("migrations apply once: reopening changes nothing and keeps data", () => {
    const path = freshPath();
    const first = openDatabase(path);
    new ProjectRepository(first.db, noPendingSettlements).create("kept", 1, Date.now());
    const applied = first.sqlite.query("select count(*) as n from __drizzle_migrations").get() as { n: number };
    first.close();
    const second = openDatabase(path);
    expect((second.sqlite.query("select count(*) as n from __drizzle_migrations").get() as { n: number }).n).toBe(applied.n);
    expect(new ProjectRepository(second.db, noPendingSettlements).find("kept")?.name).toBe("kept");
    second.close();
  });

  test("only the SHA-256 and display form of a key are stored: the secret is in no file", () => {
    const path = freshPath();
    const handle = openDatabase(path);
    const project = new ProjectRepository(handle.db, noPendingSettlements).create("secrets", 0, Date.now());
    const repository = new KeyRepository(handle.db);
    const issued = new KeyService(repository, new KeyCache(repository)).create(
      { projectId: project.id, name: "k", env: "live", scopes: ["inference"], models: null, spendLimitNanoUsd: null, limitReset: null, rpm: null, tpm: null, expiresAt: null },
      Date.now(),
    );
    const row = handle.sqlite.query("select key_hash, display from api_keys").get() as { key_hash: string; display: string };
    expect(row.key_hash).toBe(new Bun.CryptoHasher("sha256").update(issued.secret).digest("hex"));
    expect(row.display).toBe(`${issued.secret.slice(0, 12)}…${issued.secret.slice(-4)}`);
    const folder = join(path, "..");
    for (const file of readdirSync(folder)) {
      expect(readFileSync(join(folder, file)).includes(Buffer.from(issued.secret.slice(8)))).toBe(false);
    }
    handle.close();
  });
});

/** An in-memory database with only the first `applied` migrations, and project p1 at `balanceNanoUsd`. */
function databaseBefore(applied: number, balanceNanoUsd: number) {
  const sqlite = new Database(":memory:");
  const db = drizzle(sqlite);
  const migrations = embeddedMigrations();
  applyMigrations(db, migrations.slice(0, applied));
  sqlite.run("INSERT INTO projects (id, name, balance_nano_usd, created_at) VALUES ('p1', 'old', ?, 0)", [balanceNanoUsd]);
  return { sqlite, db, migrations };
}

/** A usage row as a server of an older schema wrote it (the columns every version has). */
function insertUsageRow(sqlite: Database, id: string, costNanoUsd: number, createdAt: number): void {
  sqlite.run(
    `INSERT INTO requests (id, project_id, key_id, env, endpoint, model, stream, status, input_tokens, output_tokens, cached_input_tokens, cost_nano_usd, usage_source, latency_ms, created_at)
     VALUES (?, 'p1', 'k1', 'live', 'chat.completions', 'm', 0, 200, 1, 1, 0, ?, 'reported', 1, ?)`,
    [id, costNanoUsd, createdAt],
  );
}

describe("migrations", () => {
  test("pending migrations run in one transaction: a failing one leaves the database as it was", () => {
    const sqlite = new Database(":memory:");
    const db = drizzle(sqlite);
    const [init] = embeddedMigrations();
    const broken: MigrationMeta = { sql: ["CREATE TABLE half_done (id integer)", "THIS IS NOT SQL"], bps: true, folderMillis: init!.folderMillis + 1, hash: "broken" };
    expect(() => applyMigrations(db, [init!, broken])).toThrow();
    const tables = sqlite.query("select name from sqlite_master where type = 'table' and name not like 'sqlite_%'").all() as { name: string }[];
    // Neither the first migration's tables nor the broken one's first statement survived,
    // and no migration was recorded as applied.
    expect(tables.map((t) => t.name).filter((name) => name !== "__drizzle_migrations")).toEqual([]);
    const applied = sqlite.query("select count(*) as n from __drizzle_migrations").get() as { n: number } | null;
    expect(applied?.n ?? 0).toBe(0);
    // The real migrations then apply cleanly, and a second run changes nothing.
    applyMigrations(db);
    applyMigrations(db);
    expect((sqlite.query("select count(*) as n from __drizzle_migrations").get() as { n: number }).n).toBe(embeddedMigrations().length);
  });

  test("a database migrated by a newer version is refused, by this code and by the CLI, and left as it was", () => {
    const path = join(mkdtempSync(join(tmpdir(), "parrotrouter-newer-")), "newer.db");
    const sqlite = new Database(path);
    const migrations = embeddedMigrations();
    const future: MigrationMeta = { sql: ["CREATE TABLE from_the_future (id integer)"], bps: true, folderMillis: migrations.at(-1)!.folderMillis + 1, hash: "future" };
    applyMigrations(drizzle(sqlite), [...migrations, future]);
    expect(() => applyMigrations(drizzle(sqlite))).toThrow(/migrated by a newer ParrotRouter/);
    sqlite.close();

    const config = join(dirname(path), "config.yaml");
    writeFileSync(config, `database: { path: ${JSON.stringify(path)} }\nproviders:\n  sim: { type: mock }\nmodels:\n  m: { routes: [sim/m] }\n`);
    const cli = Bun.spawnSync([process.execPath, "src/main.ts", "projects", "list", "--config", config], { stdout: "pipe", stderr: "pipe" });
    expect(cli.exitCode).toBe(1);
    expect(cli.stderr.toString()).toMatch(/^error: the database was migrated by a newer ParrotRouter .*run that version or restore a backup\n$/);
    const after = new Database(path);
    expect(after.query("SELECT count(*) AS n FROM __drizzle_migrations").get()).toEqual({ n: migrations.length + 1 });
    after.close();
  });

  test("0002 keeps every usage row of an older database and marks them applied: nothing is charged twice", () => {
    const { sqlite, db, migrations } = databaseBefore(2, 997);
    sqlite.run("INSERT INTO ledger_entries (project_id, kind, amount_nano_usd, note, created_at) VALUES ('p1', 'grant', 1000, 'start', 0)");
    // Three requests settled the old way (row + charge), written out of time order.
    for (const [id, at] of [["req_b", 20], ["req_a", 10], ["req_c", 30]] as const) {
      insertUsageRow(sqlite, id, 1, at);
      sqlite.run("INSERT INTO ledger_entries (project_id, kind, amount_nano_usd, request_id, created_at) VALUES ('p1', 'charge', -1, ?, ?)", [id, at]);
    }

    applyMigrations(db, migrations);

    const rows = sqlite.query("SELECT seq, id FROM requests ORDER BY seq").all() as { seq: number; id: string }[];
    expect(rows).toEqual([{ seq: 1, id: "req_a" }, { seq: 2, id: "req_b" }, { seq: 3, id: "req_c" }]);
    expect(sqlite.query("SELECT applied_seq FROM settlement_watermark").get()).toEqual({ applied_seq: 3 });
    expect(new SettlementApplier(sqlite).catchUp()).toBe(0);
    expect(sqlite.query("SELECT balance_nano_usd AS b FROM projects").get()).toEqual({ b: 997 });
    expect(() => insertUsageRow(sqlite, "req_a", 1, 40)).toThrow(/UNIQUE/);
  });

  test("0003 keeps applied rows in the indexes and leaves pending ones out until the applier applies them, once", () => {
    const { sqlite, db, migrations } = databaseBefore(3, 999);
    // Two rows a 0002 server applied (watermark 2) and one it settled but had not applied when it stopped.
    for (const [id, cost] of [["req_a", 1], ["req_b", 0], ["req_c", 5]] as const) insertUsageRow(sqlite, id, cost, 10);
    sqlite.run("INSERT INTO ledger_entries (project_id, kind, amount_nano_usd, request_id, created_at) VALUES ('p1', 'charge', -1, 'req_a', 10)");
    sqlite.run("INSERT INTO settlement_watermark (id, applied_seq) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET applied_seq = 2");

    applyMigrations(db, migrations);

    expect(sqlite.query("SELECT id, applied FROM requests ORDER BY seq").all()).toEqual([
      { id: "req_a", applied: 1 },
      { id: "req_b", applied: 1 },
      { id: "req_c", applied: 0 },
    ]);
    const indexed = () => sqlite.query("SELECT id FROM requests INDEXED BY requests_project_time WHERE project_id = 'p1' AND applied = 1 ORDER BY created_at, seq").all();
    expect(indexed()).toEqual([{ id: "req_a" }, { id: "req_b" }]);
    expect(new SettlementApplier(sqlite).catchUp()).toBe(1);
    expect(indexed()).toEqual([{ id: "req_a" }, { id: "req_b" }, { id: "req_c" }]);
    expect(sqlite.query("SELECT balance_nano_usd AS b FROM projects").get()).toEqual({ b: 994 });
    expect(new SettlementApplier(sqlite).catchUp()).toBe(0);
  });
});
