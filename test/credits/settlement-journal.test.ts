// Settlement commits the usage row before the answer; the charge, rollup and balance change
// are applied from it afterwards (SettlementApplier). Nobody may see the difference: every
// reader (the API, the admin API, the CLI beside a running server) applies pending rows
// first, a restart applies what a crash left, nothing is ever applied twice, and a deleted
// newest row never makes the next request's row invisible to the applier.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { LedgerRepository, type RequestRecord } from "../../src/credits/ledger-repository";
import { SettlementApplier } from "../../src/credits/settlement-applier";
import { openDatabase, type DatabaseHandle } from "../../src/db/connection";
import { startTestServer } from "../support/server";
import { ledgerState } from "./support";

function record(projectId: string, keyId: string, costNanoUsd: number): RequestRecord {
  return {
    requestId: `req_${Bun.randomUUIDv7().replaceAll("-", "")}`, projectId, keyId, env: "live", endpoint: "chat.completions", model: "m",
    provider: "sim", upstreamModel: "m", stream: false, status: 200, inputTokens: 10, outputTokens: 5, cachedInputTokens: 0, costNanoUsd,
    usageSource: "reported", latencyMs: 1, createdAt: Date.now(),
  };
}

/** A fresh database file's path. */
const freshDbPath = () => join(mkdtempSync(join(tmpdir(), "parrotrouter-journal-")), "ledger.db");

/** A database with one project (balance 1 USD) and key, written through the real repositories. */
function ledgerOnDisk(path = freshDbPath()) {
  const database = openDatabase(path);
  database.sqlite.run("INSERT INTO projects (id, name, balance_nano_usd, created_at) VALUES ('p1', 'journal', 1000000000, 0)");
  database.sqlite.run("INSERT INTO ledger_entries (project_id, kind, amount_nano_usd, note, created_at) VALUES ('p1', 'grant', 1000000000, 'start', 0)");
  database.sqlite.run("INSERT INTO api_keys (id, project_id, name, env, key_hash, display, scopes, created_at) VALUES ('k1', 'p1', 'k', 'live', 'h', 'd', '[]', 0)");
  const applier = new SettlementApplier(database.sqlite);
  return { database, applier, ledger: new LedgerRepository(database.db, database.sqlite, applier) };
}

const pendingRows = (database: DatabaseHandle) =>
  (database.sqlite.query("SELECT count(*) AS n FROM requests WHERE seq > (SELECT applied_seq FROM settlement_watermark)").get() as { n: number }).n;
const charges = (database: DatabaseHandle) => (database.sqlite.query("SELECT count(*) AS n FROM ledger_entries WHERE kind = 'charge'").get() as { n: number }).n;

describe("settlement journal", () => {
  test("an answered request's charge is visible at once to the API and the ledger, though applied later", async () => {
    // A background catch-up that waits a minute: only the readers' own catch-up can apply it.
    const server = await startTestServer({ settlementApplyDelayMs: 60_000 });
    try {
      const project = server.createProject(`journal-${crypto.randomUUID().slice(0, 8)}`, 1);
      const key = server.createKey({ project: project.name });
      const client = new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 });
      const { response } = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }).withResponse();
      const cost = Math.round(Number(response.headers.get("x-parrotrouter-cost-usd")) * 1e9);
      expect(cost).toBeGreaterThan(0);
      // Answered, and its row committed, but not applied yet; operators see the backlog.
      expect(pendingRows(server.runtime.database)).toBe(1);
      const metric = async () => (await (await fetch(`${server.url}/metrics`)).text()).match(/^parrotrouter_settlements_pending (\d+)$/m)?.[1];
      expect(await metric()).toBe("1");

      const credits = (await (await fetch(`${server.baseURL}/credits`, { headers: { authorization: `Bearer ${key.key}` } })).json()) as any;
      expect(Math.round(credits.data.total_usage * 1e9)).toBe(cost);
      expect(pendingRows(server.runtime.database)).toBe(0);
      expect(await metric()).toBe("0");
      const state = ledgerState(server, project.id);
      expect(state.balance).toBe(1e9 - cost);
      expect(state.balance).toBe(state.sum);
      expect(state.charges).toEqual([{ request_id: response.headers.get("x-request-id")!, amount_nano_usd: -cost }]);
    } finally {
      await server.stop();
    }
  });

  test("the CLI beside a running server applies the server's pending rows before it reads, exactly once", () => {
    const dir = mkdtempSync(join(tmpdir(), "parrotrouter-journal-"));
    const config = join(dir, "config.yaml");
    writeFileSync(config, `database: { path: ${JSON.stringify(join(dir, "j.db"))} }\nproviders:\n  sim: { type: mock }\nmodels:\n  m: { routes: [sim/m] }\n`);
    const { database, applier, ledger } = ledgerOnDisk(join(dir, "j.db"));
    for (let i = 0; i < 3; i++) ledger.settle(record("p1", "k1", 1_000_000));
    applier.stop(); // the "server" has not applied its rows yet
    expect(pendingRows(database)).toBe(3);

    const cli = (...args: string[]) => {
      const result = Bun.spawnSync([process.execPath, "src/main.ts", ...args, "--config", config, "--json"], { stdout: "pipe", stderr: "pipe" });
      if (result.exitCode !== 0) throw new Error(result.stderr.toString());
      return JSON.parse(result.stdout.toString());
    };
    const shown = cli("credits", "show", "journal");
    expect(shown.balance_usd).toBe(0.997);
    expect(shown.total_usage_usd).toBe(0.003);
    expect(pendingRows(database)).toBe(0);
    // The server catching up afterwards (it still holds copies of its three rows in memory)
    // finds nothing left: no charge, rollup or balance change is applied twice.
    expect(applier.catchUp()).toBe(0);
    expect(charges(database)).toBe(3);
    expect(ledger.balance("p1")).toBe(997_000_000);
    expect(database.sqlite.query("SELECT sum(requests) AS n, sum(cost_nano_usd) AS cost FROM usage_hourly").get()).toEqual({ n: 3, cost: 3_000_000 });
    expect(cli("usage", "--project", "journal", "--group-by", "model").data).toEqual([
      expect.objectContaining({ model: "m", requests: 3 }),
    ]);
    // Its next row is applied alone, not with the copies of the three the CLI applied.
    ledger.settle(record("p1", "k1", 1_000_000));
    expect(applier.catchUp()).toBe(1);
    expect(charges(database)).toBe(4);
    expect(ledger.balance("p1")).toBe(996_000_000);
    expect(database.sqlite.query("SELECT sum(requests) AS n, sum(cost_nano_usd) AS cost FROM usage_hourly").get()).toEqual({ n: 4, cost: 4_000_000 });
    database.close();
  });

  test("rows left unapplied by a crash are applied by the next start, once", () => {
    const path = freshDbPath();
    const first = ledgerOnDisk(path);
    for (let i = 0; i < 5; i++) first.ledger.settle(record("p1", "k1", 2_000_000));
    first.applier.stop();
    // No close(): the process "dies" with five rows settled and none applied.
    first.database.sqlite.close();

    const reopened = openDatabase(path);
    const applier = new SettlementApplier(reopened.sqlite);
    expect(applier.catchUp()).toBe(5);
    expect(applier.catchUp()).toBe(0);
    const ledger = new LedgerRepository(reopened.db, reopened.sqlite, applier);
    expect(ledger.balance("p1")).toBe(1e9 - 10_000_000);
    expect(ledger.ledgerSum("p1")).toBe(1e9 - 10_000_000);
    expect(charges(reopened)).toBe(5);
    reopened.close();
  });

  test("after the newest rows are deleted (a prune of an idle server), the next request is still charged", () => {
    const { database, applier, ledger } = ledgerOnDisk();
    for (let i = 0; i < 3; i++) ledger.settle(record("p1", "k1", 1_000_000));
    applier.catchUp();
    database.sqlite.run("DELETE FROM requests");
    ledger.settle(record("p1", "k1", 1_000_000));
    expect(pendingRows(database)).toBe(1);
    expect(ledger.balance("p1")).toBe(1e9 - 4_000_000);
    expect(charges(database)).toBe(4);
    database.close();
  });

  test("a duplicate request id is neither a second row nor a second charge, before or after applying", () => {
    const { database, applier, ledger } = ledgerOnDisk();
    const once = record("p1", "k1", 1_000_000);
    expect(ledger.settle(once)).toEqual({ duplicate: false });
    expect(ledger.settle(once)).toEqual({ duplicate: true });
    applier.catchUp();
    expect(ledger.settle(once)).toEqual({ duplicate: true });
    expect(ledger.balance("p1")).toBe(1e9 - 1_000_000);
    expect(charges(database)).toBe(1);
    database.close();
  });

  test("a usage row is committed outside the secondary indexes and joins them when applied", () => {
    const { database, applier, ledger } = ledgerOnDisk();
    applier.stop();
    const settled = record("p1", "k1", 1_000_000);
    ledger.settle(settled);
    const row = () => database.sqlite.query("SELECT applied FROM requests WHERE id = ?").get(settled.requestId);
    const inIndex = (index: string, where: string) =>
      (database.sqlite.query(`SELECT count(*) AS n FROM requests INDEXED BY ${index} WHERE ${where} AND applied = 1`).get(settled.requestId) as { n: number }).n;
    expect(row()).toEqual({ applied: 0 });
    expect(inIndex("requests_id_unique", "id = ?")).toBe(0);
    expect(inIndex("requests_project_time", "project_id = 'p1' AND ?1 IS NOT NULL")).toBe(0);
    applier.catchUp();
    expect(row()).toEqual({ applied: 1 });
    expect(inIndex("requests_id_unique", "id = ?")).toBe(1);
    expect(inIndex("requests_project_time", "project_id = 'p1' AND ?1 IS NOT NULL")).toBe(1);
    database.close();
  });

  test("one request id settled by two processes before either applied it: one row, one charge, counted once", () => {
    const path = freshDbPath();
    const first = ledgerOnDisk(path);
    const second = (() => {
      const database = openDatabase(path);
      const applier = new SettlementApplier(database.sqlite);
      return { database, applier, ledger: new LedgerRepository(database.db, database.sqlite, applier) };
    })();
    first.applier.stop();
    second.applier.stop();
    const twice = record("p1", "k1", 1_000_000);
    expect(first.ledger.settle(twice)).toEqual({ duplicate: false });
    expect(first.ledger.settle(twice)).toEqual({ duplicate: true }); // pending here: known in memory
    expect(second.ledger.settle(twice)).toEqual({ duplicate: false }); // nothing applied says otherwise yet
    expect(second.applier.catchUp()).toBe(2);
    expect(second.applier.duplicates).toBe(1);
    expect(first.database.sqlite.query("SELECT count(*) AS n FROM requests WHERE id = ?").get(twice.requestId)).toEqual({ n: 1 });
    expect(charges(first.database)).toBe(1);
    expect(first.ledger.balance("p1")).toBe(1e9 - 1_000_000);
    expect(first.database.sqlite.query("SELECT sum(requests) AS n FROM usage_hourly").get()).toEqual({ n: 1 });
    // Applied now: the partial unique index refuses it in either process.
    expect(second.ledger.settle(twice)).toEqual({ duplicate: true });
    first.database.close();
    second.database.close();
  });

  test("rows deleted by hand before they were applied: their copies in memory are not applied in place of the table's rows", () => {
    const { database, applier, ledger } = ledgerOnDisk();
    for (let i = 0; i < 3; i++) ledger.settle(record("p1", "k1", 5_000_000));
    applier.stop();
    database.sqlite.run("DELETE FROM requests"); // lost before they were applied: their seq numbers come back
    const kept = record("p1", "k1", 1_000_000);
    ledger.settle(kept);
    expect(applier.catchUp()).toBe(1);
    expect(database.sqlite.query("SELECT request_id, amount_nano_usd FROM ledger_entries WHERE kind = 'charge'").all()).toEqual([{ request_id: kept.requestId, amount_nano_usd: -1_000_000 }]);
    expect(ledger.balance("p1")).toBe(1e9 - 1_000_000);
    database.close();
  });

  test("a request id charged before (its usage row pruned, then written again) is counted once in ledger and rollups", () => {
    const { database, applier, ledger } = ledgerOnDisk();
    const twice = record("p1", "k1", 1_000_000);
    ledger.settle(twice);
    applier.catchUp();
    database.sqlite.run("DELETE FROM requests"); // pruned after it was applied
    expect(ledger.settle(twice)).toEqual({ duplicate: false }); // nothing in the table says otherwise
    applier.catchUp();
    expect(applier.duplicates).toBe(1);
    expect(charges(database)).toBe(1);
    expect(ledger.balance("p1")).toBe(1e9 - 1_000_000);
    expect(database.sqlite.query("SELECT sum(requests) AS n FROM usage_hourly").get()).toEqual({ n: 1 });
    database.close();
  });

  test("a batch with one request charged before: its neighbours are charged, rolled up and counted in full", () => {
    const { database, applier, ledger } = ledgerOnDisk();
    database.sqlite.run("INSERT INTO projects (id, name, balance_nano_usd, created_at) VALUES ('p2', 'other', 1000000000, 0)");
    database.sqlite.run("INSERT INTO ledger_entries (project_id, kind, amount_nano_usd, note, created_at) VALUES ('p2', 'grant', 1000000000, 'start', 0)");
    const twice = record("p1", "k1", 1_000_000);
    ledger.settle(twice);
    applier.catchUp();
    database.sqlite.run("DELETE FROM requests"); // pruned after it was applied
    applier.stop();
    const neighbours = [record("p1", "k1", 2_000_000), record("p2", "k2", 4_000_000), record("p1", "k1", 0)];
    ledger.settleMany([neighbours[0]!, twice, neighbours[1]!, neighbours[2]!]);
    expect(applier.catchUp()).toBe(4);
    expect(applier.duplicates).toBe(1);
    expect(charges(database)).toBe(3); // twice once, and the two neighbours that cost something
    expect(ledger.balance("p1")).toBe(1e9 - 1_000_000 - 2_000_000);
    expect(ledger.balance("p2")).toBe(1e9 - 4_000_000);
    expect(ledger.ledgerSum("p1")).toBe(ledger.balance("p1")!);
    expect(ledger.ledgerSum("p2")).toBe(ledger.balance("p2")!);
    const rollups = database.sqlite.query("SELECT key_id, sum(requests) AS requests, sum(cost_nano_usd) AS cost FROM usage_hourly GROUP BY key_id ORDER BY key_id").all();
    expect(rollups).toEqual([
      { key_id: "k1", requests: 3, cost: 3_000_000 },
      { key_id: "k2", requests: 1, cost: 4_000_000 },
    ]);
    database.close();
  });
});
