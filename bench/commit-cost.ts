// `bun bench/commit-cost.ts`: what one settlement costs in SQLite, alone and in a group: the
// real LedgerRepository writes (usage row, ledger charge, hourly rollup, balance) into a fresh
// WAL database in a temp folder, one request per transaction and then 32 per transaction.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LedgerRepository, type Settlement } from "../src/credits/ledger-repository";
import { openDatabase } from "../src/db/connection";

const REQUESTS = Number(process.env.BENCH_COMMITS ?? 6000);
const GROUP = 32;

const dir = mkdtempSync(join(tmpdir(), "parrotrouter-commit-"));
try {
  const database = openDatabase(join(dir, "commit.db"));
  database.sqlite.exec("INSERT INTO projects (id, name, balance_nano_usd, created_at) VALUES ('p1', 'p1', 1000000000000, 0)");
  database.sqlite.exec("INSERT INTO api_keys (id, project_id, name, env, key_hash, display, scopes, created_at) VALUES ('k1', 'p1', 'n', 'live', 'h', 'd', '[]', 0)");
  const ledger = new LedgerRepository(database.db, database.sqlite);
  const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  const settlement = (): Settlement => ({
    hour,
    charge: true,
    record: {
      requestId: `req_${Bun.randomUUIDv7().replaceAll("-", "")}`, projectId: "p1", keyId: "k1", env: "live", endpoint: "chat.completions",
      model: "bench-model", provider: "fake", upstreamModel: "bench-upstream", stream: false, status: 200, inputTokens: 14,
      outputTokens: 9, cachedInputTokens: 0, costNanoUsd: 8, usageSource: "reported", latencyMs: 1, createdAt: Date.now(),
    },
  });
  const microsPerRequest = (run: () => void) => {
    const started = performance.now();
    run();
    return ((performance.now() - started) / REQUESTS) * 1000;
  };
  for (let i = 0; i < 1000; i++) ledger.settle(settlement().record, hour, true); // warm the page cache
  const alone = microsPerRequest(() => {
    for (let i = 0; i < REQUESTS; i++) {
      const s = settlement();
      ledger.settle(s.record, s.hour, s.charge);
    }
  });
  const grouped = microsPerRequest(() => {
    for (let i = 0; i < REQUESTS; i += GROUP) ledger.settleMany(Array.from({ length: GROUP }, settlement));
  });
  console.log(`${REQUESTS} settlements: ${alone.toFixed(1)} µs each in its own transaction, ${grouped.toFixed(1)} µs each in groups of ${GROUP} (automatic WAL checkpoints included)`);
  database.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
