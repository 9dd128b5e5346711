// Usage analytics read from the hourly rollups (never a scan of raw request rows), plus the
// recent raw rows and their pruning after the retention period.

import { and, desc, eq, gte, lt, lte, sql, type SQL } from "drizzle-orm";
import type { PendingSettlements } from "../credits/settlement-applier";
import type { Db } from "../db/connection";
import { apiKeys, requests, usageHourly } from "../db/schema";

/** Raw rows examined per pruning step: about a millisecond of the event loop each. */
const PRUNE_SLICE = 5_000;
/**
 * How long after its start a request is settled at most (streams end long before: idle and
 * first-byte timeouts). Raw rows are stored in settlement order, so this bounds how far a
 * row's creation time can be out of that order. A row that breaks it (a clock set back) is
 * only pruned later, and may be missing from an all-projects list of its date range.
 */
const SETTLE_LAG_MS = 86_400_000;

export type UsageGroup = "day" | "model" | "key";

export interface UsageFilter {
  projectId?: string;
  keyId?: string;
  model?: string;
  /** Inclusive start, epoch ms. */
  from?: number;
  /** Exclusive end, epoch ms. */
  to?: number;
  env?: "live" | "test";
}

export interface UsageRow {
  group: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  costNanoUsd: number;
}

export class UsageRepository {
  /** `settlements` applies settled requests to the rollups before they are read. */
  constructor(
    private readonly db: Db,
    private readonly settlements: PendingSettlements,
  ) {}

  private rollupWhere(filter: UsageFilter): SQL | undefined {
    const conditions: SQL[] = [];
    if (filter.projectId) conditions.push(eq(usageHourly.projectId, filter.projectId));
    if (filter.keyId) conditions.push(eq(usageHourly.keyId, filter.keyId));
    if (filter.model) conditions.push(eq(usageHourly.model, filter.model));
    if (filter.env) conditions.push(eq(usageHourly.env, filter.env));
    if (filter.from !== undefined) conditions.push(gte(usageHourly.hour, Math.floor(filter.from / 3_600_000) * 3_600_000));
    if (filter.to !== undefined) conditions.push(lt(usageHourly.hour, filter.to));
    return conditions.length > 0 ? and(...conditions) : undefined;
  }

  /** Totals grouped by UTC day, model or key, from the hourly rollups. */
  summarize(filter: UsageFilter, groupBy: UsageGroup): UsageRow[] {
    this.settlements.catchUp();
    const group =
      groupBy === "day"
        ? sql<string>`strftime('%Y-%m-%d', ${usageHourly.hour} / 1000, 'unixepoch')`
        : groupBy === "model"
          ? sql<string>`${usageHourly.model}`
          : sql<string>`${usageHourly.keyId}`;
    return this.db
      .select({
        group,
        requests: sql<number>`sum(${usageHourly.requests})`,
        inputTokens: sql<number>`sum(${usageHourly.inputTokens})`,
        outputTokens: sql<number>`sum(${usageHourly.outputTokens})`,
        cachedInputTokens: sql<number>`sum(${usageHourly.cachedInputTokens})`,
        costNanoUsd: sql<number>`sum(${usageHourly.costNanoUsd})`,
      })
      .from(usageHourly)
      .where(this.rollupWhere(filter))
      .groupBy(group)
      .orderBy(group)
      .all();
  }

  /** Total cost of a filter, from rollups. */
  totalCost(filter: UsageFilter): number {
    this.settlements.catchUp();
    return (
      this.db
        .select({ total: sql<number>`coalesce(sum(${usageHourly.costNanoUsd}), 0)` })
        .from(usageHourly)
        .where(this.rollupWhere(filter))
        .get()?.total ?? 0
    );
  }

  /** Spend per project since `from` (epoch ms, hour-aligned), from rollups: project id → nano-USD. */
  costByProject(from: number): Map<string, number> {
    this.settlements.catchUp();
    const rows = this.db
      .select({ projectId: usageHourly.projectId, costNanoUsd: sql<number>`sum(${usageHourly.costNanoUsd})` })
      .from(usageHourly)
      .where(gte(usageHourly.hour, from))
      .groupBy(usageHourly.projectId)
      .all();
    return new Map(rows.map((row) => [row.projectId, row.costNanoUsd]));
  }

  /**
   * Recent raw request rows, newest first, with the key's display form. The only reader of raw
   * rows: for one project it walks the (project, time) index, for all projects the table in
   * commit order (newest settled first) within the rowid range the time range allows, and
   * stops after `limit`.
   */
  recent(filter: UsageFilter, limit: number, offset: number) {
    const conditions: SQL[] = [];
    // `applied = 1` as a literal: the (project, time) index holds applied rows only, and SQLite
    // uses a partial index only when the query states its condition (every reader caught up).
    if (filter.projectId) conditions.push(eq(requests.projectId, filter.projectId), sql`${requests.applied} = 1`);
    if (filter.keyId) conditions.push(eq(requests.keyId, filter.keyId));
    if (filter.model) conditions.push(eq(requests.model, filter.model));
    if (filter.from !== undefined) conditions.push(gte(requests.createdAt, filter.from));
    if (filter.to !== undefined) conditions.push(lt(requests.createdAt, filter.to));
    if (!filter.projectId) {
      // All projects: a walk in commit order, narrowed to the rows that can fall in the range.
      if (filter.from !== undefined) conditions.push(gte(requests.seq, this.firstSeqFrom(filter.from - SETTLE_LAG_MS)));
      if (filter.to !== undefined) conditions.push(lt(requests.seq, this.firstSeqFrom(filter.to + SETTLE_LAG_MS)));
    }
    return this.db
      .select({
        id: requests.id,
        createdAt: requests.createdAt,
        keyId: requests.keyId,
        keyDisplay: apiKeys.display,
        env: requests.env,
        model: requests.model,
        provider: requests.provider,
        status: requests.status,
        stream: requests.stream,
        inputTokens: requests.inputTokens,
        outputTokens: requests.outputTokens,
        costNanoUsd: requests.costNanoUsd,
        usageSource: requests.usageSource,
        latencyMs: requests.latencyMs,
      })
      .from(requests)
      .leftJoin(apiKeys, eq(apiKeys.id, requests.keyId))
      .where(conditions.length > 0 ? and(...conditions) : undefined)
      .orderBy(filter.projectId ? desc(requests.createdAt) : desc(requests.seq))
      .limit(limit)
      .offset(offset)
      .all();
  }

  /** The first or last raw row's seq; one query each, since SQLite answers a lone min() or max() of the rowid from one end of the table. */
  private seqAtEnd(end: "min" | "max"): number | undefined {
    const column = end === "min" ? sql<number | null>`min(${requests.seq})` : sql<number | null>`max(${requests.seq})`;
    return this.db.select({ seq: column }).from(requests).get()?.seq ?? undefined;
  }

  /**
   * A binary search over commit order for where rows start being created at or after `at`:
   * every row before the result was created before `at` + SETTLE_LAG_MS, every row from it on
   * at or after `at` - SETTLE_LAG_MS (rows are stored in settlement order, and a request
   * settles within that lag of its start). About 2·log2(rows) lookups by rowid; past the last
   * row when there is none.
   */
  private firstSeqFrom(at: number): number {
    let low = this.seqAtEnd("min") ?? 0;
    let high = (this.seqAtEnd("max") ?? -1) + 1;
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      const row = this.db.select({ seq: requests.seq, createdAt: requests.createdAt }).from(requests).where(gte(requests.seq, middle)).orderBy(requests.seq).limit(1).get();
      if (row && row.createdAt < at) low = row.seq + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * Deletes raw rows older than `before`; rollups are kept. Returns the number deleted. Only
   * rows already applied to the ledger go (their charges and rollups stay). There is no time
   * index (one B-tree less for every request to write): rows are stored in settlement order,
   * and a request settles within SETTLE_LAG_MS of its start, so the walk, a slice at a time,
   * stops at the first row newer than `before` + that lag: nothing after it can be old.
   */
  async pruneRequests(before: number): Promise<number> {
    this.settlements.catchUp();
    const applied = this.settlements.watermark();
    let from = this.seqAtEnd("min") ?? applied + 1;
    let deleted = 0;
    while (from <= applied) {
      const to = Math.min(from + PRUNE_SLICE - 1, applied);
      const tooNew = this.db
        .select({ seq: requests.seq })
        .from(requests)
        .where(and(gte(requests.seq, from), lte(requests.seq, to), gte(requests.createdAt, before + SETTLE_LAG_MS)))
        .orderBy(requests.seq)
        .limit(1)
        .get();
      const end = tooNew ? tooNew.seq - 1 : to;
      const result = this.db
        .delete(requests)
        .where(and(gte(requests.seq, from), lte(requests.seq, end), lt(requests.createdAt, before)))
        .run() as unknown as { changes: number };
      deleted += result.changes;
      if (tooNew) break;
      from = to + 1;
      await Bun.sleep(0); // requests go on between slices
    }
    return deleted;
  }
}
