// `bun bench/commit-cost.ts`: what one settlement costs in SQLite: the usage-row commit a
// request waits for (alone, and 32 per transaction as under load), and the work of applying
// those rows to the ledger afterwards (charge, rollup, balance; SettlementApplier), in a fresh
// WAL database in a temp folder. Automatic WAL checkpoints are included.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LedgerRepository, type RequestRecord } from "../src/credits/ledger-repository";
import { SettlementApplier } from "../src/credits/settlement-applier";
import { openDatabase } from "../src/db/connection";

const REQUESTS = Number(process.env.BENCH_COMMITS ?? 6000);
const GROUP = 32;

const dir = mkdtempSync(join(tmpdir(), "parrotrouter-commit-"));
try {
  const database = openDatabase(join(dir, "commit.db"));
  database.sqlite.exec("INSERT INTO projects (id, name, balance_nano_usd, created_at) VALUES ('p1', 'p1', 1000000000000, 0)");
  database.sqlite.exec("INSERT INTO api_keys (id, project_id, name, env, key_hash, display, scopes, created_at) VALUES ('k1', 'p1', 'n', 'live', 'h', 'd', '[]', 0)");
  const applier = new SettlementApplier(database.sqlite);
  const ledger = new LedgerRepository(database.db, database.sqlite, applier);
  const record = (): RequestRecord => ({
    requestId: `req_${Bun.randomUUIDv7().replaceAll("-", "")}`, projectId: "p1", keyId: "k1", env: "live", endpoint: "chat.completions",
    model: "bench-model", provider: "fake", upstreamModel: "bench-upstream", stream: false, status: 200, inputTokens: 14,
    outputTokens: 9, cachedInputTokens: 0, costNanoUsd: 8, usageSource: "reported", latencyMs: 1, createdAt: Date.now(),
  });
  const microsPerRequest = (run: () => void) => {
    const started = performance.now();
    run();
    return ((performance.now() - started) / REQUESTS) * 1000;
  };
  for (let i = 0; i < 1000; i++) ledger.settle(record()); // warm the page cache
  applier.catchUp();
  const alone = microsPerRequest(() => {
    for (let i = 0; i < REQUESTS; i++) ledger.settle(record());
  });
  const appliedAfterAlone = microsPerRequest(() => applier.catchUp());
  const grouped = microsPerRequest(() => {
    for (let i = 0; i < REQUESTS; i += GROUP) ledger.settleMany(Array.from({ length: GROUP }, record));
  });
  const appliedAfterGrouped = microsPerRequest(() => applier.catchUp());
  console.log(
    `${REQUESTS} settlements: the answer waits ${alone.toFixed(1)} µs each in its own transaction, ${grouped.toFixed(1)} µs each in groups of ${GROUP}; ` +
      `applying them to the ledger afterwards: ${appliedAfterAlone.toFixed(1)} / ${appliedAfterGrouped.toFixed(1)} µs each`,
  );
  database.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
