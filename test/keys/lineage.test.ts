// Key lineage: a key rotated from another (directly or through several rotations) carries the
// id of the chain's first key, which spend caps and rate limits are counted against; databases
// from before the lineage column get it filled from the replaced_by links.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { openDatabase } from "../../src/db/connection";
import { applyMigrations, embeddedMigrations } from "../../src/db/migrate";
import journal from "../../src/db/migrations/meta/_journal.json";
import { KeyRepository } from "../../src/keys/repository";
import { ManualClock } from "../../src/shared/clock";
import { projectWithKey, serverForBlock } from "../support/server";
import { adminApi } from "./support";

describe("rotation records the lineage", () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
  const server = serverForBlock({ clock });
  const lineageOf = (id: string) => server.runtime.keys.find(id)!.lineageId;

  test("a fresh key is its own lineage; every key rotated from it, directly or not, shares it", async () => {
    const { project, key: first } = projectWithKey(server);
    const sibling = server.createKey({ project: project.name });
    expect(lineageOf(first.id)).toBe(first.id);
    expect(lineageOf(sibling.id)).toBe(sibling.id);
    const second = (await adminApi(server, "POST", `/keys/${first.id}/rotate`, { grace_seconds: 60 })).body;
    const third = (await adminApi(server, "POST", `/keys/${second.id}/rotate`, { grace_seconds: 60 })).body;
    expect(lineageOf(second.id)).toBe(first.id);
    expect(lineageOf(third.id)).toBe(first.id);
  });

  // The replaced_by link alone loses this case: rotating a key again during its grace period
  // with a longer grace leaves replaced_by on the first successor.
  test("a key rotated twice during its grace period puts both successors in its lineage", async () => {
    const { key: first } = projectWithKey(server);
    const a = (await adminApi(server, "POST", `/keys/${first.id}/rotate`, { grace_seconds: 60 })).body;
    const b = (await adminApi(server, "POST", `/keys/${first.id}/rotate`, { grace_seconds: 3600 })).body;
    expect([lineageOf(a.id), lineageOf(b.id)]).toEqual([first.id, first.id]);
  });
});

describe("the 0001_key_lineage migration", () => {
  const dir = mkdtempSync(join(tmpdir(), "parrotrouter-lineage-"));
  const path = join(dir, "old.db");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("fills lineage_id of existing keys by following replaced_by to each chain's first key", () => {
    // A database as an older release left it: migrated up to 0001 (not included), with rotated keys.
    const lineageMigration = journal.entries.find((entry) => entry.tag === "0001_key_lineage")!;
    const old = new Database(path, { create: true });
    applyMigrations(drizzle(old), embeddedMigrations().filter((m) => m.folderMillis < lineageMigration.when));
    old.exec("INSERT INTO projects (id, name, created_at) VALUES ('p', 'p', 0)");
    const insert = old.query(
      "INSERT INTO api_keys (id, project_id, name, env, key_hash, display, scopes, created_at, replaced_by) VALUES (?, 'p', 'k', 'live', ?, 'd', '[\"inference\"]', 0, ?)",
    );
    for (const [id, replacedBy] of [["a", "b"], ["b", "c"], ["c", null], ["d", null], ["e", "f"], ["f", null]] as const) insert.run(id, `hash-${id}`, replacedBy);
    old.close();

    const upgraded = openDatabase(path);
    try {
      const rows = upgraded.sqlite.query("SELECT id, lineage_id FROM api_keys ORDER BY id").all();
      expect(rows).toEqual([
        { id: "a", lineage_id: "a" },
        { id: "b", lineage_id: "a" },
        { id: "c", lineage_id: "a" },
        { id: "d", lineage_id: "d" },
        { id: "e", lineage_id: "e" },
        { id: "f", lineage_id: "e" },
      ]);
      expect(new KeyRepository(upgraded.db).findByHash("hash-c")!.lineageId).toBe("a");
    } finally {
      upgraded.close();
    }
  });
});
