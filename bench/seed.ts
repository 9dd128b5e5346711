// Fills a copy of the benchmark database the way a busy installation looks: `keys` extra keys
// over 1,000 projects and `rows` past requests (usage rows, with their ledger charges and
// hourly rollups) from the last week, by direct SQL in one transaction. The tables' own
// indexes are dropped during the load and rebuilt from their recorded SQL (much faster).

import { Database } from "bun:sqlite";

const PROJECTS = 1_000;
const HOUR_MS = 3_600_000;
const WEEK_MS = 7 * 24 * HOUR_MS;

export function seedDatabase(path: string, keys: number, rows: number): void {
  const db = new Database(path);
  db.exec("PRAGMA synchronous = OFF");
  db.exec("PRAGMA cache_size = -262144"); // 256 MB
  const indexes = db
    .query<{ name: string; sql: string }, []>("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('api_keys', 'requests', 'ledger_entries', 'usage_hourly')")
    .all();
  const now = Date.now();
  const insertProject = db.prepare("INSERT INTO projects (id, name, balance_nano_usd, created_at) VALUES (?, ?, ?, ?)");
  const insertGrant = db.prepare("INSERT INTO ledger_entries (project_id, kind, amount_nano_usd, note, created_at) VALUES (?, 'grant', ?, 'seed', ?)");
  const insertKey = db.prepare(
    "INSERT INTO api_keys (id, project_id, name, env, key_hash, display, scopes, created_at) VALUES (?, ?, 'seed', 'live', ?, 'pr-live-seed…seed', '[\"inference\",\"read\"]', ?)",
  );
  const insertRequest = db.prepare(
    "INSERT INTO requests (id, project_id, key_id, env, endpoint, model, provider, upstream_model, stream, status, input_tokens, output_tokens, cached_input_tokens, cost_nano_usd, usage_source, latency_ms, created_at) " +
      "VALUES (?, ?, ?, 'live', 'chat.completions', 'bench-model', 'fake', 'bench-upstream', 0, 200, 14, 9, 0, 8, 'reported', 3, ?)",
  );
  const insertCharge = db.prepare("INSERT INTO ledger_entries (project_id, kind, amount_nano_usd, request_id, key_id, created_at) VALUES (?, 'charge', -8, ?, ?, ?)");
  const grantNanoUsd = 5_000_000_000;

  db.transaction(() => {
    for (const index of indexes) db.exec(`DROP INDEX "${index.name}"`);
    for (let p = 0; p < PROJECTS; p++) {
      insertProject.run(`seed_project_${p}`, `seed-${p}`, grantNanoUsd, now - WEEK_MS);
      insertGrant.run(`seed_project_${p}`, grantNanoUsd, now - WEEK_MS);
    }
    for (let k = 0; k < keys; k++) {
      const hash = Bun.CryptoHasher.hash("sha256", `seed-key-${k}`, "hex");
      insertKey.run(`seed_key_${k}`, `seed_project_${k % PROJECTS}`, hash, now - WEEK_MS);
    }
    for (let r = 0; r < rows; r++) {
      const key = r % Math.max(keys, 1);
      const project = `seed_project_${key % PROJECTS}`;
      const at = now - WEEK_MS + Math.floor((r / rows) * (WEEK_MS - HOUR_MS));
      const id = `req_seed_${String(r).padStart(9, "0")}`; // ascending, like the server's time-ordered ids
      insertRequest.run(id, project, `seed_key_${key}`, at);
      insertCharge.run(project, id, `seed_key_${key}`, at);
    }
    for (const index of indexes) db.exec(index.sql);
    // Rollups and cached balances agree with the rows, as the server keeps them.
    db.exec(
      `INSERT INTO usage_hourly (project_id, key_id, model, env, hour, requests, input_tokens, output_tokens, cached_input_tokens, cost_nano_usd)
       SELECT project_id, key_id, model, env, (created_at / ${HOUR_MS}) * ${HOUR_MS}, count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cost_nano_usd)
       FROM requests WHERE id LIKE 'req_seed_%' GROUP BY 1, 2, 3, 4, 5`,
    );
    db.exec(
      "UPDATE projects SET balance_nano_usd = (SELECT sum(amount_nano_usd) FROM ledger_entries WHERE ledger_entries.project_id = projects.id) WHERE id LIKE 'seed_project_%'",
    );
    // Their charges and rollups are written above: the rows count as applied to the ledger.
    db.exec("UPDATE settlement_watermark SET applied_seq = (SELECT coalesce(max(seq), 0) FROM requests)");
  })();
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
}
