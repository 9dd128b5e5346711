// Applies settled requests to the ledger. A finished request commits one thing before its
// answer: its usage row (`requests`, the durable settlement record). Its ledger charge, its
// hourly rollup and the project's cached balance are derived from that row here, in batches,
// up to a watermark that moves in the same transaction as the derived writes: so a crash
// (kill -9) between the two loses nothing, and the next start applies what is left.
//
// Why not all in one transaction per request: a commit costs per page it writes. The usage row
// is committed with `applied = 0`, outside the table's (partial) secondary indexes, so it
// touches one B-tree where the whole settlement touches 9; the row joins the indexes here,
// with its charge. Batching makes the answer wait for the small commit only (bench/RESULTS.md).
//
// Every reader of derived data (balances, ledger, rollups) calls `catchUp()` first, in this
// process or in the CLI beside a running server, so nobody ever reads a lagging ledger.

import type { Database } from "bun:sqlite";
import type { RequestRecord } from "./ledger-repository";
import { startOfUtcHour } from "./windows";

/** Rows applied per transaction: bounds the size of one write transaction (a catch-up may run several). */
const APPLY_BATCH = 2_000;
/** Settled rows that trigger a background catch-up at once... */
const EAGER_PENDING = 512;
/** ...otherwise the longest a settled row waits before it is applied. */
const APPLY_DELAY_MS = 50;
/** Rows remembered in memory at most; past that (a database that stays busy) they are re-read. */
const MAX_REMEMBERED = 50_000;

/** What applying a usage row needs of it. */
type AppliedFields = Pick<RequestRecord, "requestId" | "projectId" | "keyId" | "env" | "model" | "inputTokens" | "outputTokens" | "cachedInputTokens" | "costNanoUsd" | "createdAt">;

/** A usage row this process committed, with its place in commit order. */
export interface SettledRow {
  /** The row's `requests.seq`. */
  seq: number;
  /** The fields its charge and rollup are made of. */
  record: AppliedFields;
}

/** A usage row as stored: what the catch-up reads back when it has no copy in memory. */
interface PendingRow {
  seq: number;
  id: string;
  project_id: string;
  key_id: string;
  env: string;
  model: string;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  cost_nano_usd: number;
  created_at: number;
}

function fromStored(row: PendingRow): SettledRow {
  return {
    seq: row.seq,
    record: {
      requestId: row.id, projectId: row.project_id, keyId: row.key_id, env: row.env, model: row.model, inputTokens: row.input_tokens,
      outputTokens: row.output_tokens, cachedInputTokens: row.cached_input_tokens, costNanoUsd: row.cost_nano_usd, createdAt: row.created_at,
    },
  };
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

function addToRollup(rollups: Map<string, RollupSum>, row: AppliedFields): void {
  const hour = startOfUtcHour(row.createdAt);
  const id = `${row.projectId}\u0000${row.keyId}\u0000${row.model}\u0000${row.env}\u0000${hour}`;
  const sum = rollups.get(id);
  if (!sum) {
    rollups.set(id, {
      projectId: row.projectId, keyId: row.keyId, model: row.model, env: row.env, hour, requests: 1,
      inputTokens: row.inputTokens, outputTokens: row.outputTokens, cachedInputTokens: row.cachedInputTokens, costNanoUsd: row.costNanoUsd,
    });
    return;
  }
  sum.requests++;
  sum.inputTokens += row.inputTokens;
  sum.outputTokens += row.outputTokens;
  sum.cachedInputTokens += row.cachedInputTokens;
  sum.costNanoUsd += row.costNanoUsd;
}

/** What a reader of balances, rollups or the ledger needs: bring them up to date first. */
export type PendingSettlements = Pick<SettlementApplier, "catchUp" | "watermark">;

export interface SettlementApplierOptions {
  /** The longest a settled row waits for a background catch-up (tests lengthen it). */
  applyDelayMs?: number;
  /** Hears of a background catch-up that failed (its rows stay pending). */
  onBackgroundError?: (error: unknown) => void;
}

export class SettlementApplier {
  private readonly appliedSeq;
  private readonly lastSeq;
  private readonly pendingRows;
  private readonly idAtSeq;
  private readonly markApplied;
  private readonly notApplied;
  private readonly deleteRow;
  private readonly insertCharge;
  private readonly addToBalance;
  private readonly upsertRollup;
  private readonly moveWatermark;
  private readonly applyBatch;
  /** Rows this process committed and has not applied yet, in commit order (a copy; the table is the truth). */
  private remembered: SettledRow[] = [];
  /** The request ids of `remembered`: a second settlement of one still pending is refused at once. */
  private rememberedIds = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private eager: ReturnType<typeof setImmediate> | undefined;
  /** Rows found charged already when applied (see applyOnce); a metric. */
  duplicates = 0;

  private readonly applyDelayMs: number;
  private readonly onBackgroundError: (error: unknown) => void;

  constructor(sqlite: Database, options: SettlementApplierOptions = {}) {
    this.applyDelayMs = options.applyDelayMs ?? APPLY_DELAY_MS;
    this.onBackgroundError = options.onBackgroundError ?? (() => {});
    this.appliedSeq = sqlite.prepare<{ applied_seq: number }, []>("SELECT applied_seq FROM settlement_watermark WHERE id = 1");
    this.lastSeq = sqlite.prepare<{ seq: number | null }, []>("SELECT max(seq) AS seq FROM requests");
    this.pendingRows = sqlite.prepare<PendingRow, [number, number]>(
      `SELECT seq, id, project_id, key_id, env, model, input_tokens, output_tokens, cached_input_tokens, cost_nano_usd, created_at
       FROM requests WHERE seq > ? ORDER BY seq LIMIT ?`,
    );
    this.idAtSeq = sqlite.prepare<{ id: string }, [number]>("SELECT id FROM requests WHERE seq = ?");
    // OR IGNORE: a row whose request id is applied already would break the partial unique
    // index; it stays `applied = 0` and is found by `notApplied` as a duplicate.
    this.markApplied = sqlite.prepare<unknown, [number, number]>("UPDATE OR IGNORE requests SET applied = 1 WHERE seq BETWEEN ? AND ? AND applied = 0");
    this.notApplied = sqlite.prepare<{ seq: number }, [number, number]>("SELECT seq FROM requests WHERE seq BETWEEN ? AND ? AND applied = 0");
    this.deleteRow = sqlite.prepare<unknown, [number]>("DELETE FROM requests WHERE seq = ?");
    // A charge's request id is unique: a row applied twice (it cannot be, the watermark moves
    // with it) would still be charged once.
    this.insertCharge = sqlite.prepare<unknown, [string, number, string, string, number]>(
      `INSERT INTO ledger_entries (project_id, kind, amount_nano_usd, request_id, key_id, created_at)
       VALUES (?, 'charge', ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`,
    );
    this.addToBalance = sqlite.prepare<unknown, [number, string]>("UPDATE projects SET balance_nano_usd = balance_nano_usd + ? WHERE id = ?");
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
    this.moveWatermark = sqlite.prepare<unknown, [number]>("INSERT INTO settlement_watermark (id, applied_seq) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET applied_seq = excluded.applied_seq");
    // IMMEDIATE: the watermark is read under the write lock, so two processes catching up at
    // once apply each row exactly once.
    const apply = sqlite.transaction(() => this.applyOnce());
    this.applyBatch = () => apply.immediate();
  }

  /** The last `requests.seq` in the ledger. */
  watermark(): number {
    return this.appliedSeq.get()?.applied_seq ?? 0;
  }

  /**
   * The next rows after `watermark`: from memory when this process committed them (the common
   * case), else read back from the table (rows of another process, or of a run that crashed).
   */
  private nextRows(watermark: number): SettledRow[] {
    this.forgetApplied(watermark);
    const rows: SettledRow[] = [];
    for (const row of this.remembered) {
      if (row.seq !== watermark + rows.length + 1 || rows.length === APPLY_BATCH) break;
      rows.push(row);
    }
    if (rows.length > 0 && this.stillStored(rows[0]!) && this.stillStored(rows.at(-1)!)) return rows;
    // No copies, or the table changed under them (rows deleted by hand before they were
    // applied let their seq numbers be used again): the table is the truth.
    if (rows.length > 0) this.forgetAll();
    return this.pendingRows.all(watermark, APPLY_BATCH).map(fromStored);
  }

  private stillStored(row: SettledRow): boolean {
    return this.idAtSeq.get(row.seq)?.id === row.record.requestId;
  }

  /** Drops the copies of rows at or below the watermark (applied, by this process or another). */
  private forgetApplied(watermark: number): void {
    let applied = 0;
    while (applied < this.remembered.length && this.remembered[applied]!.seq <= watermark) applied++;
    if (applied === 0) return;
    for (const row of this.remembered.splice(0, applied)) this.rememberedIds.delete(row.record.requestId);
  }

  private forgetAll(): void {
    this.remembered = [];
    this.rememberedIds.clear();
  }

  /** True when this process settled `requestId` and has not applied it yet. */
  isPending(requestId: string): boolean {
    return this.rememberedIds.has(requestId);
  }

  /** Applies one batch inside the caller's transaction; returns how many rows it applied. */
  private applyOnce(): number {
    const rows = this.nextRows(this.watermark());
    if (rows.length === 0) return 0;
    const first = rows[0]!.seq;
    const last = rows.at(-1)!.seq;
    this.markApplied.run(first, last);
    // Left out of the indexes: a request id applied before (or twice in this batch). Its row
    // goes; its request is counted once, where it was applied.
    const repeated = new Set(this.notApplied.all(first, last).map((row) => row.seq));
    const rollups = new Map<string, RollupSum>();
    const deltas = new Map<string, number>();
    for (const { seq, record } of rows) {
      if (repeated.has(seq)) {
        this.duplicates++;
        this.deleteRow.run(seq);
        continue;
      }
      if (record.costNanoUsd > 0) {
        const charged = this.insertCharge.run(record.projectId, -record.costNanoUsd, record.requestId, record.keyId, record.createdAt);
        // Charged before under this id: a usage row written twice (an id reused after its row
        // was pruned, or a server older than migration 0002 that charged it itself). The
        // request is in the ledger and the rollups already; count it once.
        if (charged.changes === 0) {
          this.duplicates++;
          continue;
        }
        deltas.set(record.projectId, (deltas.get(record.projectId) ?? 0) - record.costNanoUsd);
      }
      addToRollup(rollups, record);
    }
    for (const r of rollups.values()) {
      this.upsertRollup.run(r.projectId, r.keyId, r.model, r.env, r.hour, r.requests, r.inputTokens, r.outputTokens, r.cachedInputTokens, r.costNanoUsd);
    }
    for (const [projectId, delta] of deltas) this.addToBalance.run(delta, projectId);
    this.moveWatermark.run(last);
    return rows.length;
  }

  /**
   * Applies every settled row after the watermark (this process's and any other's). Cheap
   * when there is nothing to apply: two index lookups, no write.
   */
  catchUp(): number {
    let applied = 0;
    let watermark = this.watermark();
    while ((this.lastSeq.get()?.seq ?? 0) > watermark) {
      const batch = this.applyBatch();
      if (batch === 0) break; // rows after the watermark exist, so this cannot happen; never spin
      applied += batch;
      watermark = this.watermark();
    }
    this.forgetApplied(watermark);
    // Everything is applied: a scheduled catch-up has nothing left to do. (On a failure above
    // it stays scheduled and tries again.)
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    return applied;
  }

  /** Called after usage rows committed: remembers them and schedules their application off the answer's path. */
  settled(rows: SettledRow[]): void {
    if (this.remembered.length + rows.length > MAX_REMEMBERED) this.forgetAll();
    for (const row of rows) {
      this.remembered.push(row);
      this.rememberedIds.add(row.record.requestId);
    }
    if (this.remembered.length >= EAGER_PENDING) {
      this.eager ??= setImmediate(() => {
        this.eager = undefined;
        this.catchUpInBackground();
      });
      return;
    }
    this.schedule();
  }

  /** Rows this process settled and has not applied yet (a gauge). */
  pending(): number {
    return this.remembered.length;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.catchUpInBackground();
    }, this.applyDelayMs);
    // Never the reason a process stays alive: close() and the next start apply what is left.
    this.timer.unref();
  }

  private catchUpInBackground(): void {
    try {
      this.catchUp();
    } catch (error) {
      // A busy database: the rows stay settled; try again after the usual delay.
      this.onBackgroundError(error);
      this.schedule();
    }
  }

  /** Stops the background catch-ups (the database is closing; call catchUp() first). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.eager) clearImmediate(this.eager);
    this.timer = undefined;
    this.eager = undefined;
  }
}
