// SQL for money: grants and adjustments, the settlement of finished requests (their usage rows,
// one request or a group commit of several; SettlementApplier derives their charges) and the
// ledger's reads, each after a catch-up so it never sees a lagging ledger. Statements are
// prepared once.

import type { Database } from "bun:sqlite";
import { and, desc, eq, gte, inArray, or, sql } from "drizzle-orm";
import type { Db } from "../db/connection";
import { apiKeys, ledgerEntries, projects, usageHourly } from "../db/schema";
import type { SettlementApplier } from "./settlement-applier";

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

/** The `requests.seq` a usage row was committed at, or null when it was not written (its request id was recorded before). */
type InsertedAt = number | null;

/** What the usage-row insert found: a request id recorded before is not settled again. */
export interface Settled {
  duplicate: boolean;
}

export class LedgerRepository {
  private readonly nextSeq;
  private readonly insertRequest;
  private readonly appliedWithId;
  private readonly keySpendSince;
  private readonly balanceOf;
  private readonly settleTransaction;
  private readonly settleManyTransaction;
  /** Settlement transactions committed so far; against the request count, how well requests group. */
  transactions = 0;

  constructor(
    private readonly db: Db,
    sqlite: Database,
    private readonly applier: SettlementApplier,
  ) {
    const p = sql.placeholder;
    // The per-request writes are plain bun:sqlite statements with positional parameters:
    // drizzle's placeholder filling and row mapping cost more than the statements themselves.
    // `seq` always lands past the applied watermark, even when pruning (or a hand) deleted the
    // newest rows: a reused rowid at or below it would never be applied, i.e. never charged.
    // It is read once per transaction (the write lock held, nobody else can take one) and
    // counted up in JavaScript: two index reads per row fewer in a group (bench/RESULTS.md,
    // ninth session).
    // `applied = 0`: the row joins the secondary indexes when the applier applies it, so this
    // commit writes one B-tree page. A request id already applied (found through the partial
    // unique index, a read) is not written again; one still pending is caught in memory (below).
    // The check is a statement of its own and the row goes in with VALUES: as `INSERT … SELECT
    // … WHERE NOT EXISTS`, reading the table it writes, SQLite ran every insert through a
    // temporary table, half of its cost (bench/RESULTS.md, sixth session).
    this.nextSeq = sqlite.prepare<{ seq: number }, []>(
      `SELECT max(coalesce((SELECT max(seq) FROM requests), 0), coalesce((SELECT applied_seq FROM settlement_watermark WHERE id = 1), 0)) + 1 AS seq`,
    );
    this.insertRequest = sqlite.prepare<unknown, (string | number | null)[]>(
      `INSERT INTO requests (seq, id, project_id, key_id, env, endpoint, model, provider, upstream_model, stream, status,
         input_tokens, output_tokens, cached_input_tokens, cost_nano_usd, usage_source, latency_ms, created_at, applied)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
    );
    this.appliedWithId = sqlite.prepare<{ found: number }, [string]>("SELECT 1 AS found FROM requests WHERE id = ? AND applied = 1");
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
    this.settleTransaction = sqlite.transaction((record: RequestRecord) => this.insertRequestRow(record, this.nextSeq.get()!.seq));
    this.settleManyTransaction = sqlite.transaction((records: RequestRecord[]) => {
      const inThisGroup = new Set<string>();
      let seq = this.nextSeq.get()!.seq;
      return records.map((record) => {
        if (inThisGroup.has(record.requestId)) return null;
        inThisGroup.add(record.requestId);
        const inserted = this.insertRequestRow(record, seq);
        if (inserted !== null) seq++;
        return inserted;
      });
    });
  }

  /** Writes the request's usage row at `seq` and returns it; null when its id was recorded before (applied, or pending in this process). */
  private insertRequestRow(record: RequestRecord, seq: number): InsertedAt {
    if (this.applier.isPending(record.requestId) || this.appliedWithId.get(record.requestId)) return null;
    this.insertRequest.run(
      seq, record.requestId, record.projectId, record.keyId, record.env, record.endpoint, record.model, record.provider,
      record.upstreamModel, record.stream ? 1 : 0, record.status, record.inputTokens, record.outputTokens,
      record.cachedInputTokens, record.costNanoUsd, record.usageSource, record.latencyMs, record.createdAt,
    );
    return seq;
  }

  /**
   * Settles a finished request: commits its usage row, the durable record its ledger charge,
   * rollup and balance change are applied from (in the background, see SettlementApplier).
   * A request id seen before changes nothing.
   */
  settle(record: RequestRecord): Settled {
    const seq = this.settleTransaction.immediate(record);
    this.transactions++;
    if (seq === null) return { duplicate: true };
    this.applier.settled([{ seq, requestId: record.requestId }]);
    return { duplicate: false };
  }

  /** `settle` for several requests in one IMMEDIATE transaction (group commit): all or none. */
  settleMany(records: RequestRecord[]): Settled[] {
    const inserted = this.settleManyTransaction.immediate(records);
    this.transactions++;
    this.applier.settled(inserted.flatMap((seq, i) => (seq === null ? [] : [{ seq, requestId: records[i]!.requestId }])));
    return inserted.map((seq) => ({ duplicate: seq === null }));
  }

  /** Adds a grant or adjustment and returns the entry and the new balance. */
  addEntry(projectId: string, kind: "grant" | "adjustment" | "refund", amountNanoUsd: number, note: string | null, now: number): { entry: LedgerEntry; balanceNanoUsd: number } {
    this.applier.catchUp();
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
    this.applier.catchUp();
    return this.balanceOf.get({ projectId })?.balanceNanoUsd;
  }

  /** Sum of the costs of a key lineage's keys in rollups since `since` (epoch ms, hour-aligned). */
  keySpend(lineageId: string, since: number): number {
    this.applier.catchUp();
    return this.keySpendSince.get({ lineageId, since })?.total ?? 0;
  }

  /** Sum of the project's ledger: what the balance column must always equal. */
  ledgerSum(projectId: string): number {
    this.applier.catchUp();
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
    this.applier.catchUp();
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
    this.applier.catchUp();
    return this.db
      .select()
      .from(ledgerEntries)
      .where(eq(ledgerEntries.projectId, projectId))
      .orderBy(desc(ledgerEntries.id))
      .limit(limit)
      .all() as LedgerEntry[];
  }
}
