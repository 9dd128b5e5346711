// SQL for money: grants and adjustments, and the write transaction of finished requests
// (charge + usage row + hourly rollup), one request or a group commit of several. Statements
// are prepared once.

import type { Database } from "bun:sqlite";
import { and, desc, eq, gte, inArray, or, sql } from "drizzle-orm";
import type { Db } from "../db/connection";
import { apiKeys, ledgerEntries, projects, usageHourly } from "../db/schema";

/** Everything recorded about one finished request. */
export interface RequestRecord {
  requestId: string;
  projectId: string;
  keyId: string;
  env: string;
  endpoint: string;
  /** The model name the client asked for. */
  model: string;
  provider: string | null;
  upstreamModel: string | null;
  stream: boolean;
  status: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  costNanoUsd: number;
  usageSource: "reported" | "estimated" | "none";
  latencyMs: number;
  createdAt: number;
}

export interface LedgerEntry {
  id: number;
  projectId: string;
  kind: "grant" | "charge" | "refund" | "adjustment";
  amountNanoUsd: number;
  requestId: string | null;
  note: string | null;
  createdAt: number;
}

/** One request to settle: its record, the UTC hour of its rollup, and whether it is charged. */
export interface Settlement {
  record: RequestRecord;
  hour: number;
  charge: boolean;
}

export interface Settled {
  duplicate: boolean;
  balanceNanoUsd: number | null;
}

interface RollupSum {
  projectId: string;
  keyId: string;
  model: string;
  env: string;
  hour: number;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  costNanoUsd: number;
}

/** Adds one request to the group's sum for its hourly rollup row. */
function addToRollup(rollups: Map<string, RollupSum>, record: RequestRecord, hour: number): void {
  const id = `${record.projectId}\u0000${record.keyId}\u0000${record.model}\u0000${record.env}\u0000${hour}`;
  const sum = rollups.get(id);
  if (!sum) {
    rollups.set(id, {
      projectId: record.projectId, keyId: record.keyId, model: record.model, env: record.env, hour, requests: 1,
      inputTokens: record.inputTokens, outputTokens: record.outputTokens, cachedInputTokens: record.cachedInputTokens, costNanoUsd: record.costNanoUsd,
    });
    return;
  }
  sum.requests++;
  sum.inputTokens += record.inputTokens;
  sum.outputTokens += record.outputTokens;
  sum.cachedInputTokens += record.cachedInputTokens;
  sum.costNanoUsd += record.costNanoUsd;
}

export class LedgerRepository {
  private readonly insertRequest;
  private readonly insertCharge;
  private readonly addToBalance;
  private readonly upsertRollup;
  private readonly keySpendSince;
  private readonly balanceOf;
  private readonly settleTransaction;
  private readonly settleManyTransaction;
  /** Settlement transactions committed so far; against the request count, how well requests group. */
  transactions = 0;

  constructor(
    private readonly db: Db,
    sqlite: Database,
  ) {
    const p = sql.placeholder;
    // The per-request writes are plain bun:sqlite statements with positional parameters:
    // drizzle's placeholder filling and row mapping cost more than the statements themselves.
    this.insertRequest = sqlite.prepare<unknown, (string | number | null)[]>(
      `INSERT INTO requests (id, project_id, key_id, env, endpoint, model, provider, upstream_model, stream, status,
         input_tokens, output_tokens, cached_input_tokens, cost_nano_usd, usage_source, latency_ms, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    this.insertCharge = sqlite.prepare<unknown, (string | number)[]>(
      `INSERT INTO ledger_entries (project_id, kind, amount_nano_usd, request_id, key_id, created_at)
       VALUES (?, 'charge', ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`,
    );
    this.addToBalance = sqlite.prepare<{ balance_nano_usd: number }, [number, string]>(
      "UPDATE projects SET balance_nano_usd = balance_nano_usd + ? WHERE id = ? RETURNING balance_nano_usd",
    );
    this.upsertRollup = sqlite.prepare<unknown, (string | number)[]>(
      `INSERT INTO usage_hourly (project_id, key_id, model, env, hour, requests, input_tokens, output_tokens, cached_input_tokens, cost_nano_usd)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (project_id, key_id, model, env, hour) DO UPDATE SET
         requests = requests + excluded.requests,
         input_tokens = input_tokens + excluded.input_tokens,
         output_tokens = output_tokens + excluded.output_tokens,
         cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
         cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd`,
    );
    this.keySpendSince = db
      .select({ total: sql<number>`coalesce(sum(${usageHourly.costNanoUsd}), 0)` })
      .from(usageHourly)
      .where(
        and(
          // Every key of the lineage (a key rotated from another continues its spend window). The
          // `id = lineage` branch covers rows written without a lineage_id (the root of a
          // lineage is its own id; raw inserts such as the benchmark's seed leave it NULL).
          inArray(
            usageHourly.keyId,
            db.select({ id: apiKeys.id }).from(apiKeys).where(or(eq(apiKeys.lineageId, p("lineageId")), eq(apiKeys.id, p("lineageId")))),
          ),
          gte(usageHourly.hour, p("since")),
        ),
      )
      .prepare();
    this.balanceOf = db
      .select({ balanceNanoUsd: projects.balanceNanoUsd })
      .from(projects)
      .where(eq(projects.id, p("projectId")))
      .prepare();

    // bun:sqlite transactions are synchronous; IMMEDIATE takes the write lock up front so
    // two processes never deadlock upgrading a read lock.
    this.settleTransaction = sqlite.transaction((settlement: Settlement) => this.write(settlement));
    this.settleManyTransaction = sqlite.transaction((settlements: Settlement[]) => this.writeMany(settlements));
  }

  /** The request's usage row; `changes` is 0 when its id was recorded before. */
  private insertRequestRow(record: RequestRecord): { changes: number } {
    return this.insertRequest.run(
      record.requestId, record.projectId, record.keyId, record.env, record.endpoint, record.model, record.provider,
      record.upstreamModel, record.stream ? 1 : 0, record.status, record.inputTokens, record.outputTokens,
      record.cachedInputTokens, record.costNanoUsd, record.usageSource, record.latencyMs, record.createdAt,
    );
  }

  /** The writes of one settlement; runs inside a transaction. */
  private write({ record, hour, charge }: Settlement): Settled {
    const inserted = this.insertRequestRow(record);
    if (inserted.changes === 0) return { duplicate: true, balanceNanoUsd: null };
    this.upsertRollup.run(
      record.projectId, record.keyId, record.model, record.env, hour, 1,
      record.inputTokens, record.outputTokens, record.cachedInputTokens, record.costNanoUsd,
    );
    if (!charge || record.costNanoUsd === 0) return { duplicate: false, balanceNanoUsd: null };
    const charged = this.insertCharge.run(record.projectId, -record.costNanoUsd, record.requestId, record.keyId, record.createdAt);
    if (charged.changes === 0) return { duplicate: true, balanceNanoUsd: null };
    const row = this.addToBalance.get(-record.costNanoUsd, record.projectId);
    return { duplicate: false, balanceNanoUsd: row?.balance_nano_usd ?? null };
  }

  /**
   * The writes of a group commit; runs inside a transaction. Each request still gets its own
   * usage row and charge entry, but the group's rollups and balance changes are summed first
   * and written once per rollup row and per project: fewer statements, same totals. Each
   * request is told the balance right after its own charge, as if written one by one.
   */
  private writeMany(settlements: Settlement[]): Settled[] {
    const results: Settled[] = [];
    const rollups = new Map<string, RollupSum>();
    const chargedBy = new Map<string, { delta: number; requests: number[] }>();
    for (const [i, { record, hour, charge }] of settlements.entries()) {
      const inserted = this.insertRequestRow(record);
      if (inserted.changes === 0) {
        results.push({ duplicate: true, balanceNanoUsd: null });
        continue;
      }
      addToRollup(rollups, record, hour);
      if (!charge || record.costNanoUsd === 0) {
        results.push({ duplicate: false, balanceNanoUsd: null });
        continue;
      }
      const charged = this.insertCharge.run(record.projectId, -record.costNanoUsd, record.requestId, record.keyId, record.createdAt);
      results.push({ duplicate: charged.changes === 0, balanceNanoUsd: null });
      if (charged.changes === 0) continue;
      const project = chargedBy.get(record.projectId) ?? { delta: 0, requests: [] };
      project.delta -= record.costNanoUsd;
      project.requests.push(i);
      chargedBy.set(record.projectId, project);
    }
    for (const r of rollups.values()) {
      this.upsertRollup.run(r.projectId, r.keyId, r.model, r.env, r.hour, r.requests, r.inputTokens, r.outputTokens, r.cachedInputTokens, r.costNanoUsd);
    }
    for (const [projectId, { delta, requests }] of chargedBy) {
      const final = this.addToBalance.get(delta, projectId)?.balance_nano_usd;
      if (final === undefined) continue;
      let balance = final - delta;
      for (const i of requests) {
        balance -= settlements[i]!.record.costNanoUsd;
        results[i] = { duplicate: false, balanceNanoUsd: balance };
      }
    }
    return results;
  }

  /**
   * Records a finished request: usage row, rollup and (when `charge`) its ledger charge, in one
   * IMMEDIATE transaction. A request id seen before changes nothing.
   */
  settle(record: RequestRecord, hour: number, charge: boolean): Settled {
    const settled = this.settleTransaction.immediate({ record, hour, charge });
    this.transactions++;
    return settled;
  }

  /** `settle` for several requests in one IMMEDIATE transaction (group commit): all or none. */
  settleMany(settlements: Settlement[]): Settled[] {
    const settled = this.settleManyTransaction.immediate(settlements);
    this.transactions++;
    return settled;
  }

  /** Adds a grant or adjustment and returns the entry and the new balance. */
  addEntry(projectId: string, kind: "grant" | "adjustment" | "refund", amountNanoUsd: number, note: string | null, now: number): { entry: LedgerEntry; balanceNanoUsd: number } {
    return this.db.transaction(
      (tx) => {
        const [entry] = tx
          .insert(ledgerEntries)
          .values({ projectId, kind, amountNanoUsd, note, createdAt: now })
          .returning()
          .all();
        const [row] = tx
          .update(projects)
          .set({ balanceNanoUsd: sql`${projects.balanceNanoUsd} + ${amountNanoUsd}` })
          .where(eq(projects.id, projectId))
          .returning({ balanceNanoUsd: projects.balanceNanoUsd })
          .all();
        return { entry: entry as LedgerEntry, balanceNanoUsd: row!.balanceNanoUsd };
      },
      { behavior: "immediate" },
    );
  }

  balance(projectId: string): number | undefined {
    return this.balanceOf.get({ projectId })?.balanceNanoUsd;
  }

  /** Sum of the costs of a key lineage's keys in rollups since `since` (epoch ms, hour-aligned). */
  keySpend(lineageId: string, since: number): number {
    return this.keySpendSince.get({ lineageId, since })?.total ?? 0;
  }

  /** Sum of the project's ledger: what the balance column must always equal. */
  ledgerSum(projectId: string): number {
    return (
      this.db
        .select({ total: sql<number>`coalesce(sum(${ledgerEntries.amountNanoUsd}), 0)` })
        .from(ledgerEntries)
        .where(eq(ledgerEntries.projectId, projectId))
        .get()?.total ?? 0
    );
  }

  /** Total granted (positive entries) and used (charges) for `/v1/credits`. */
  totals(projectId: string): { creditsNanoUsd: number; usageNanoUsd: number } {
    const row = this.db
      .select({
        credits: sql<number>`coalesce(sum(case when ${ledgerEntries.kind} != 'charge' then ${ledgerEntries.amountNanoUsd} else 0 end), 0)`,
        usage: sql<number>`coalesce(-sum(case when ${ledgerEntries.kind} = 'charge' then ${ledgerEntries.amountNanoUsd} else 0 end), 0)`,
      })
      .from(ledgerEntries)
      .where(eq(ledgerEntries.projectId, projectId))
      .get();
    return { creditsNanoUsd: row?.credits ?? 0, usageNanoUsd: row?.usage ?? 0 };
  }

  entries(projectId: string, limit = 100): LedgerEntry[] {
    return this.db
      .select()
      .from(ledgerEntries)
      .where(eq(ledgerEntries.projectId, projectId))
      .orderBy(desc(ledgerEntries.id))
      .limit(limit)
      .all() as LedgerEntry[];
  }
}
