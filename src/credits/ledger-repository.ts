// SQL for money: grants and adjustments, and the one write transaction per finished request
// (charge + usage row + hourly rollup). Statements are prepared once.

import type { Database } from "bun:sqlite";
import { and, desc, eq, gte, sql } from "drizzle-orm";
import type { Db } from "../db/connection";
import { ledgerEntries, projects, requests, usageHourly } from "../db/schema";

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

export class LedgerRepository {
  private readonly insertRequest;
  private readonly insertCharge;
  private readonly addToBalance;
  private readonly upsertRollup;
  private readonly keySpendSince;
  private readonly balanceOf;
  private readonly settleTransaction;

  constructor(
    private readonly db: Db,
    sqlite: Database,
  ) {
    const p = sql.placeholder;
    this.insertRequest = db
      .insert(requests)
      .values({
        id: p("requestId"),
        projectId: p("projectId"),
        keyId: p("keyId"),
        env: p("env"),
        endpoint: p("endpoint"),
        model: p("model"),
        provider: p("provider"),
        upstreamModel: p("upstreamModel"),
        stream: p("stream"),
        status: p("status"),
        inputTokens: p("inputTokens"),
        outputTokens: p("outputTokens"),
        cachedInputTokens: p("cachedInputTokens"),
        costNanoUsd: p("costNanoUsd"),
        usageSource: p("usageSource"),
        latencyMs: p("latencyMs"),
        createdAt: p("createdAt"),
      })
      .onConflictDoNothing()
      .returning({ id: requests.id })
      .prepare();
    this.insertCharge = db
      .insert(ledgerEntries)
      .values({
        projectId: p("projectId"),
        kind: "charge",
        amountNanoUsd: p("amount"),
        requestId: p("requestId"),
        keyId: p("keyId"),
        createdAt: p("createdAt"),
      })
      .onConflictDoNothing({ target: ledgerEntries.requestId })
      .returning({ id: ledgerEntries.id })
      .prepare();
    this.addToBalance = db
      .update(projects)
      .set({ balanceNanoUsd: sql`${projects.balanceNanoUsd} + ${p("delta")}` })
      .where(eq(projects.id, p("projectId")))
      .returning({ balanceNanoUsd: projects.balanceNanoUsd })
      .prepare();
    this.upsertRollup = db
      .insert(usageHourly)
      .values({
        projectId: p("projectId"),
        keyId: p("keyId"),
        model: p("model"),
        env: p("env"),
        hour: p("hour"),
        requests: 1,
        inputTokens: p("inputTokens"),
        outputTokens: p("outputTokens"),
        cachedInputTokens: p("cachedInputTokens"),
        costNanoUsd: p("costNanoUsd"),
      })
      .onConflictDoUpdate({
        target: [usageHourly.projectId, usageHourly.keyId, usageHourly.model, usageHourly.env, usageHourly.hour],
        set: {
          requests: sql`${usageHourly.requests} + 1`,
          inputTokens: sql`${usageHourly.inputTokens} + excluded.input_tokens`,
          outputTokens: sql`${usageHourly.outputTokens} + excluded.output_tokens`,
          cachedInputTokens: sql`${usageHourly.cachedInputTokens} + excluded.cached_input_tokens`,
          costNanoUsd: sql`${usageHourly.costNanoUsd} + excluded.cost_nano_usd`,
        },
      })
      .prepare();
    this.keySpendSince = db
      .select({ total: sql<number>`coalesce(sum(${usageHourly.costNanoUsd}), 0)` })
      .from(usageHourly)
      .where(and(eq(usageHourly.keyId, p("keyId")), gte(usageHourly.hour, p("since"))))
      .prepare();
    this.balanceOf = db
      .select({ balanceNanoUsd: projects.balanceNanoUsd })
      .from(projects)
      .where(eq(projects.id, p("projectId")))
      .prepare();

    // bun:sqlite transactions are synchronous; IMMEDIATE takes the write lock up front so
    // two processes never deadlock upgrading a read lock.
    this.settleTransaction = sqlite.transaction((record: RequestRecord, hour: number, charge: boolean) => {
      const inserted = this.insertRequest.all({ ...record, stream: record.stream ? 1 : 0 } as never);
      if (inserted.length === 0) return { duplicate: true, balanceNanoUsd: null };
      this.upsertRollup.run({ ...record, hour } as never);
      if (!charge || record.costNanoUsd === 0) return { duplicate: false, balanceNanoUsd: null };
      const charged = this.insertCharge.all({
        projectId: record.projectId,
        amount: -record.costNanoUsd,
        requestId: record.requestId,
        keyId: record.keyId,
        createdAt: record.createdAt,
      });
      if (charged.length === 0) return { duplicate: true, balanceNanoUsd: null };
      const [row] = this.addToBalance.all({ delta: -record.costNanoUsd, projectId: record.projectId });
      return { duplicate: false, balanceNanoUsd: row?.balanceNanoUsd ?? null };
    });
  }

  /**
   * Records a finished request: usage row, rollup and (when `charge`) its ledger charge, in one
   * IMMEDIATE transaction. A request id seen before changes nothing.
   */
  settle(record: RequestRecord, hour: number, charge: boolean): { duplicate: boolean; balanceNanoUsd: number | null } {
    return this.settleTransaction.immediate(record, hour, charge);
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

  /** Sum of a key's costs in rollups since `since` (epoch ms, hour-aligned). */
  keySpend(keyId: string, since: number): number {
    return this.keySpendSince.get({ keyId, since })?.total ?? 0;
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
