// Analytics read the hourly rollups, never the raw `requests` rows (except the paged, indexed
// "recent requests" list): with a million extra raw rows, or none at all, every usage answer
// is the same, and SQLite's query plans show which tables each usage query touches.
// Pruning raw rows after the retention period keeps the rollups.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/shared/clock";
import { ADMIN_TOKEN, startTestServer, type TestServer } from "../support/server";
import { loginAsAdmin, recordUsage, type AdminClient } from "./support";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 20, 12);
/** Raw rows added behind the rollups' back. ~5 s on 2 cores; the answers must not move. */
const BULK_ROWS = 1_000_000;

const clock = new ManualClock(NOW);
let server: TestServer;
let admin: AdminClient;
let project: { id: string; name: string };
let key: { id: string; key: string };
let other: { id: string; key: string };

const rawCount = () => (server.runtime.database.sqlite.query("select count(*) as n from requests").get() as { n: number }).n;

beforeAll(async () => {
  server = await startTestServer({ clock });
  admin = await loginAsAdmin(server.url);
  project = server.createProject("rollups", 100);
  key = server.createKey({ project: project.name, name: "main" });
  other = server.createKey({ project: project.name, name: "other" });
  // 1,000 requests over ten days, two models, two keys: raw rows and rollups, the real write path.
  for (let i = 0; i < 1000; i++) {
    recordUsage(server.runtime, {
      projectId: project.id,
      keyId: i % 3 === 0 ? other.id : key.id,
      model: i % 2 === 0 ? "gpt-4o" : "cheap",
      at: NOW - (i % 10) * DAY - i * 1000,
      costNanoUsd: 1_000 + i,
      inputTokens: 10 + (i % 7),
      outputTokens: 5 + (i % 5),
    });
  }
});
afterAll(() => server.stop());

/** Every usage answer the product gives, in a comparable form. */
async function usageAnswers() {
  const adminApi = async (query: string) => (await fetch(`${server.url}/admin/api/usage${query}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
  const v1 = async (query: string) => (await fetch(`${server.url}/v1/usage${query}`, { headers: { authorization: `Bearer ${key.key}` } })).text();
  const page = await (await admin.get(`/admin/usage?project=${project.id}&from=2026-11-01&to=2026-11-20`)).text();
  // The page's rollup parts: totals, chart and tables (not the raw "recent requests" list).
  const rollupPart = page.slice(page.indexOf(`id="total-requests"`), page.indexOf(`id="recent-heading"`));
  const projects = await (await admin.get("/admin")).text();
  const keyInfo = (await (await fetch(`${server.url}/v1/key`, { headers: { authorization: `Bearer ${key.key}` } })).json()) as any;
  delete keyInfo.data.last_used_at;
  return {
    adminByDay: await adminApi("?group_by=day"),
    adminByModel: await adminApi(`?group_by=model&project=${project.id}&from=2026-11-15&to=2026-11-20`),
    adminByKey: await adminApi(`?group_by=key&model=cheap`),
    v1ByDay: await v1("?group_by=day"),
    v1ByKeyCsv: await v1("?group_by=key&format=csv&from=2026-11-12"),
    keyInfo,
    pageRollups: rollupPart,
    projectsPage: projects.slice(projects.indexOf(`<table id="projects"`), projects.indexOf("</table>")),
  };
}

/** Runs `calls`, recording the SQL of every statement prepared meanwhile. */
async function capturingSql(calls: () => Promise<unknown>): Promise<string[]> {
  const sqlite = server.runtime.database.sqlite;
  const original = sqlite.prepare;
  const seen: string[] = [];
  sqlite.prepare = ((sql: string, ...rest: unknown[]) => {
    seen.push(sql);
    return (original as Function).call(sqlite, sql, ...rest);
  }) as typeof sqlite.prepare;
  try {
    await calls();
  } finally {
    sqlite.prepare = original;
  }
  return seen;
}

/** SQLite's plan for a statement, one detail line per step. */
function queryPlan(sql: string): string[] {
  return (server.runtime.database.sqlite.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((row) => row.detail);
}

const touchesRaw = (sql: string) => /\bfrom "requests"|join "requests"/i.test(sql);
const touchesRollups = (sql: string) => /"usage_hourly"/i.test(sql);

describe("usage analytics read the rollups", () => {
  let baseline: Awaited<ReturnType<typeof usageAnswers>>;

  test("baseline: 1,000 requests are counted", async () => {
    baseline = await usageAnswers();
    const total = (baseline.adminByDay as any).data.reduce((sum: number, row: any) => sum + row.requests, 0);
    expect(total).toBe(1000);
    expect(rawCount()).toBe(1000);
  });

  test(
    `${BULK_ROWS.toLocaleString("en-US")} more raw rows (written with no rollups) change no answer`,
    async () => {
      const sqlite = server.runtime.database.sqlite;
      const insert = sqlite.prepare(
        `insert into requests (id, project_id, key_id, env, endpoint, model, provider, upstream_model, stream, status, input_tokens,
           output_tokens, cached_input_tokens, cost_nano_usd, usage_source, latency_ms, created_at)
         values (?, ?, ?, 'live', 'chat.completions', ?, 'mock', ?, 0, 200, 1000, 1000, 0, 1000000, 'reported', 40, ?)`,
      );
      const started = performance.now();
      sqlite.transaction(() => {
        for (let i = 0; i < BULK_ROWS; i++) {
          const model = i % 2 === 0 ? "gpt-4o" : "cheap";
          // Spread over the same ten days as the real requests, in time order like real traffic.
          insert.run(`bulk_${i}`, project.id, i % 3 === 0 ? other.id : key.id, model, model, NOW - 10 * DAY + Math.floor((i * 10 * DAY) / BULK_ROWS));
        }
      })();
      // Rows the server writes are applied to the rollups and ledger by its catch-up; these are
      // marked applied without that, so any answer that moved would have read raw rows.
      sqlite.run("update settlement_watermark set applied_seq = (select max(seq) from requests)");
      // Logged, not asserted: timing assertions are flaky; the plans below are the proof.
      console.log(`inserted ${BULK_ROWS} raw rows in ${Math.round(performance.now() - started)} ms`);
      expect(rawCount()).toBe(1000 + BULK_ROWS);
      expect(await usageAnswers()).toEqual(baseline);
    },
    120_000,
  );

  test("the JSON usage APIs and /v1/key never touch raw rows; their plans read usage_hourly", async () => {
    const statements = await capturingSql(async () => {
      await fetch(`${server.url}/admin/api/usage?group_by=day&project=${project.id}&from=2026-11-01&to=2026-11-20`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      await fetch(`${server.url}/admin/api/usage?group_by=model&key=${key.id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      await fetch(`${server.url}/admin/api/usage?group_by=key`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      await fetch(`${server.url}/v1/usage?group_by=model&format=csv&from=2026-11-12`, { headers: { authorization: `Bearer ${key.key}` } });
      await fetch(`${server.url}/v1/key`, { headers: { authorization: `Bearer ${key.key}` } });
    });
    const usageStatements = statements.filter(touchesRollups);
    expect(usageStatements.length).toBeGreaterThanOrEqual(5);
    for (const sql of statements) expect(touchesRaw(sql), sql).toBe(false);
    for (const sql of usageStatements) {
      const plan = queryPlan(sql).join("\n");
      expect(plan, sql).toMatch(/usage_hourly/);
      expect(plan, sql).not.toMatch(/\brequests\b/);
    }
  });

  test("the admin page reads raw rows only for the recent-requests list, through an index", async () => {
    const statements = await capturingSql(async () => {
      await admin.get(`/admin/usage?project=${project.id}&from=2026-11-01&to=2026-11-20&page=3`);
      await admin.get(`/admin/usage?project=${project.id}&key=${key.id}`);
      await admin.get("/admin/usage");
      await admin.get("/admin");
      await admin.get(`/admin/projects/${project.id}`);
    });
    const raw = statements.filter(touchesRaw);
    // One recent-requests list per usage page view; the others are the rowid lookups that
    // narrow an all-projects list to its date range.
    expect(raw.filter((sql) => /left join "api_keys"/i.test(sql)).length).toBe(3);
    for (const sql of raw) {
      expect(sql).toMatch(/limit \?|(min|max)\("seq"\)/i);
      const plan = queryPlan(sql);
      const onRequests = plan.filter((line) => /\brequests\b/.test(line));
      expect(onRequests.length, plan.join("\n")).toBe(1);
      // min(seq) and max(seq) are answered from one end of the rowid B-tree ("SEARCH requests").
      if (/(min|max)\("seq"\)/i.test(sql)) {
        expect(onRequests[0]).toBe("SEARCH requests");
        continue;
      }
      // Either a SEARCH on (project_id, created_at), or (all projects, a date range, and the
      // binary search's lookups) a walk of a rowid range, stopping at LIMIT: never a sort or a
      // walk of every row.
      expect(onRequests[0], plan.join("\n")).toMatch(/USING INDEX requests_project_time|USING INTEGER PRIMARY KEY \(rowid>\?( AND rowid<\?)?\)/);
      expect(plan.join("\n")).not.toMatch(/USE TEMP B-TREE FOR ORDER BY/);
    }
    for (const sql of statements.filter((sql) => !touchesRaw(sql) && touchesRollups(sql))) expect(queryPlan(sql).join("\n")).not.toMatch(/\brequests\b/);
  });

  test("deleting every raw row changes no answer either", async () => {
    server.runtime.database.sqlite.exec("delete from requests");
    expect(rawCount()).toBe(0);
    expect(await usageAnswers()).toEqual(baseline);
  });
});

describe("pruning raw rows after usage.retention_days", () => {
  test("old raw rows go, recent ones stay, rollups, usage answers and the ledger are untouched", async () => {
    // The rows of the tests above are a synthetic history written out of time order; the
    // server writes rows in settlement order, as this test does (oldest first).
    server.runtime.settlements.catchUp(); // applied first: only then may raw rows go
    server.runtime.database.sqlite.run("delete from requests");
    const pruned = server.createProject("pruned", 10);
    const prunedKey = server.createKey({ project: pruned.name });
    const ages = [45, 31, 29, 1]; // days
    for (const age of ages) recordUsage(server.runtime, { projectId: pruned.id, keyId: prunedKey.id, model: "gpt-4o", at: NOW - age * DAY, costNanoUsd: 1_000_000 });
    const usage = async () => (await fetch(`${server.url}/admin/api/usage?group_by=day&project=${pruned.id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
    const before = await usage();
    const balanceBefore = server.runtime.ledger.balance(pruned.id);
    expect(server.runtime.config.usageRetentionDays).toBe(30);

    // What `parrotrouter serve` runs every hour.
    const deleted = await server.runtime.usage.pruneRequests(NOW - server.runtime.config.usageRetentionDays * DAY);

    expect(deleted).toBe(2);
    const left = server.runtime.usage.recent({ projectId: pruned.id }, 10, 0);
    expect(left.map((row) => Math.round((NOW - row.createdAt) / DAY))).toEqual([1, 29]);
    expect(await usage()).toEqual(before);
    expect((before as any).data.length).toBe(4);
    expect(server.runtime.ledger.balance(pruned.id)).toBe(balanceBefore!);
    expect(server.runtime.ledger.ledgerSum(pruned.id)).toBe(balanceBefore!);
  });

  test("a prune walks the table slice by slice: 12,000 old rows go, the newer ones stay", async () => {
    server.runtime.settlements.catchUp(); // applied first: only then may raw rows go
    server.runtime.database.sqlite.run("delete from requests");
    const old = server.createProject("pruned-many", 10);
    const oldKey = server.createKey({ project: old.name });
    const at = (i: number, total: number, ageDays: number) => NOW - ageDays * DAY + Math.floor((i * DAY) / total);
    for (let i = 0; i < 12_000; i++) recordUsage(server.runtime, { projectId: old.id, keyId: oldKey.id, model: "cheap", at: at(i, 12_000, 40), costNanoUsd: 1 });
    for (let i = 0; i < 50; i++) recordUsage(server.runtime, { projectId: old.id, keyId: oldKey.id, model: "cheap", at: at(i, 50, 3), costNanoUsd: 1 });

    expect(await server.runtime.usage.pruneRequests(NOW - 30 * DAY)).toBe(12_000);
    expect(rawCount()).toBe(50);
    expect(server.runtime.ledger.balance(old.id)).toBe(10e9 - 12_050);
  }, 30_000);

  test("all projects' recent rows in a date range: exactly the rows a full scan finds, from a narrowed rowid range", () => {
    server.runtime.settlements.catchUp(); // applied first: only then may raw rows go
    server.runtime.database.sqlite.run("delete from requests");
    const spread = server.createProject("spread", 10);
    const spreadKey = server.createKey({ project: spread.name });
    // 2,000 requests over 20 days, settled in order, each created up to 6 hours before it settled.
    const settledAt = (i: number) => NOW - 20 * DAY + i * (10 * DAY / 1000);
    for (let i = 0; i < 2_000; i++) {
      const lag = ((i * 7919) % 6) * 3_600_000;
      recordUsage(server.runtime, { projectId: spread.id, keyId: spreadKey.id, model: "cheap", at: settledAt(i) - lag, costNanoUsd: 1 });
    }
    const sqlite = server.runtime.database.sqlite;
    for (const [from, to] of [[NOW - 15 * DAY, NOW - 12 * DAY], [NOW - 20 * DAY, NOW - 19 * DAY], [NOW - 2 * DAY, NOW], [NOW - 30 * DAY, NOW - 25 * DAY]] as const) {
      const expected = (sqlite.query("select id from requests where created_at >= ? and created_at < ? order by seq desc").all(from, to) as { id: string }[]).map((r) => r.id);
      const found = server.runtime.usage.recent({ from, to }, 5_000, 0).map((r) => r.id);
      expect(found).toEqual(expected);
    }
    expect(server.runtime.usage.recent({ from: NOW - 15 * DAY, to: NOW - 12 * DAY }, 5_000, 0).length).toBeGreaterThan(250);
  });

  test("a prune never deletes a row newer than the cutoff; an old row settled after a newer one waits for a later prune", async () => {
    server.runtime.settlements.catchUp(); // applied first: only then may raw rows go
    server.runtime.database.sqlite.run("delete from requests");
    const late = server.createProject("late", 10);
    const lateKey = server.createKey({ project: late.name });
    // In commit order: old, recent (plus a day of lag), old again (settled late).
    for (const age of [45, 1, 40]) recordUsage(server.runtime, { projectId: late.id, keyId: lateKey.id, model: "cheap", at: NOW - age * DAY, costNanoUsd: 1 });

    expect(await server.runtime.usage.pruneRequests(NOW - 30 * DAY)).toBe(1);
    const left = (server.runtime.database.sqlite.query("select created_at from requests order by seq").all() as { created_at: number }[]).map((r) => Math.round((NOW - r.created_at) / DAY));
    expect(left).toEqual([1, 40]);
    expect(server.runtime.ledger.balance(late.id)).toBe(10e9 - 3);
  });
});
