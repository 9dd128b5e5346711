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

/** Rows applied per transaction: bounds the size of one write transaction (a catch-up may run several). */
const APPLY_BATCH = 2_000;
/** Settled rows that trigger a background catch-up at once... */
const EAGER_PENDING = 512;
/** ...otherwise the longest a settled row waits before it is applied. */
const APPLY_DELAY_MS = 50;
/** Request ids remembered in memory at most; past that (a database that stays busy) only the table catches duplicates. */
const MAX_REMEMBERED = 50_000;

/** A usage row this process committed: its place in commit order and its request id. */
export interface SettledRow {
  /** The row's `requests.seq`. */
  seq: number;
  requestId: string;
}

/** The rows of one batch, `seq` from `first` to `last`. */
type SeqRange = [first: number, last: number];
/** The same, and the seqs whose charge was in the ledger already (JSON array, usually `[]`). */
type SeqRangeExcept = [first: number, last: number, skipped: string];

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
  private readonly markApplied;
  private readonly notApplied;
  private readonly deleteRow;
  private readonly chargeable;
  private readonly lastLedgerId;
  private readonly insertCharges;
  private readonly chargedBefore;
  private readonly upsertRollups;
  private readonly upsertRollupsExcept;
  private readonly addToBalances;
  private readonly addToBalancesExcept;
  private readonly moveWatermark;
  private readonly applyBatch;
  /** Rows this process committed and has not applied yet, in commit order (their ids only; the table is the truth). */
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
    // A batch is applied by a few statements over its seq range, each run once, not once per
    // row: what stays per row is SQLite's B-tree work (bench/RESULTS.md, ninth session).
    // OR IGNORE: a row whose request id is applied already would break the partial unique
    // index; it stays `applied = 0` and is found by `notApplied` as a duplicate.
    this.markApplied = sqlite.prepare<unknown, SeqRange>("UPDATE OR IGNORE requests SET applied = 1 WHERE seq BETWEEN ? AND ? AND applied = 0");
    this.notApplied = sqlite.prepare<{ seq: number }, SeqRange>("SELECT seq FROM requests WHERE seq BETWEEN ? AND ? AND applied = 0");
    this.deleteRow = sqlite.prepare<unknown, [number]>("DELETE FROM requests WHERE seq = ?");
    this.chargeable = sqlite.prepare<{ rows: number }, SeqRange>("SELECT count(*) AS rows FROM requests WHERE seq BETWEEN ? AND ? AND applied = 1 AND cost_nano_usd > 0");
    this.lastLedgerId = sqlite.prepare<{ id: number | null }, []>("SELECT max(id) AS id FROM ledger_entries");
    // A charge's request id is unique: a row applied twice (it cannot be, the watermark moves
    // with it) would still be charged once.
    this.insertCharges = sqlite.prepare<unknown, SeqRange>(
      `INSERT INTO ledger_entries (project_id, kind, amount_nano_usd, request_id, key_id, created_at)
       SELECT project_id, 'charge', -cost_nano_usd, id, key_id, created_at FROM requests
       WHERE seq BETWEEN ? AND ? AND applied = 1 AND cost_nano_usd > 0 ORDER BY seq
       ON CONFLICT (request_id) DO NOTHING`,
    );
    this.chargedBefore = sqlite.prepare<{ seq: number }, [number, number, number]>(
      `SELECT r.seq FROM requests r JOIN ledger_entries l ON l.request_id = r.id
       WHERE r.seq BETWEEN ? AND ? AND r.applied = 1 AND r.cost_nano_usd > 0 AND l.id <= ?`,
    );
    const rollups = (except: string) =>
      sqlite.prepare<unknown, SeqRange | SeqRangeExcept>(
        `INSERT INTO usage_hourly (project_id, key_id, model, env, hour, requests, input_tokens, output_tokens, cached_input_tokens, cost_nano_usd)
         SELECT project_id, key_id, model, env, created_at - created_at % 3600000, count(*), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(cost_nano_usd)
         FROM requests WHERE seq BETWEEN ? AND ? AND applied = 1 ${except}
         GROUP BY project_id, key_id, model, env, created_at - created_at % 3600000
         ON CONFLICT (project_id, key_id, model, env, hour) DO UPDATE SET
           requests = requests + excluded.requests,
           input_tokens = input_tokens + excluded.input_tokens,
           output_tokens = output_tokens + excluded.output_tokens,
           cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
           cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd`,
      );
    const balances = (except: string) =>
      sqlite.prepare<unknown, SeqRange | SeqRangeExcept>(
        `UPDATE projects SET balance_nano_usd = balance_nano_usd - charged.total
         FROM (SELECT project_id, sum(cost_nano_usd) AS total FROM requests
               WHERE seq BETWEEN ? AND ? AND applied = 1 AND cost_nano_usd > 0 ${except} GROUP BY project_id) AS charged
         WHERE projects.id = charged.project_id`,
      );
    // Rows whose request id was charged before (see applyOnce) are left out of both.
    const exceptSkipped = "AND seq NOT IN (SELECT value FROM json_each(?))";
    this.upsertRollups = rollups("");
    this.upsertRollupsExcept = rollups(exceptSkipped);
    this.addToBalances = balances("");
    this.addToBalancesExcept = balances(exceptSkipped);
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

  /** Drops the ids of rows at or below the watermark (applied, by this process or another). */
  private forgetApplied(watermark: number): void {
    let applied = 0;
    while (applied < this.remembered.length && this.remembered[applied]!.seq <= watermark) applied++;
    if (applied === 0) return;
    for (const row of this.remembered.splice(0, applied)) this.rememberedIds.delete(row.requestId);
  }

  private forgetAll(): void {
    this.remembered = [];
    this.rememberedIds.clear();
  }

  /** True when this process settled `requestId` and has not applied it yet. */
  isPending(requestId: string): boolean {
    return this.rememberedIds.has(requestId);
  }

  /** Applies the rows after the watermark, at most one batch, inside the caller's transaction; returns how many it applied. */
  private applyOnce(): number {
    const watermark = this.watermark();
    const last = Math.min(this.lastSeq.get()?.seq ?? 0, watermark + APPLY_BATCH);
    if (last <= watermark) return 0;
    const first = watermark + 1;
    const marked = this.markApplied.run(first, last).changes;
    // Left out of the indexes: a request id applied before (or twice in this batch). Its row
    // goes; its request is counted once, where it was applied.
    const repeated = this.notApplied.all(first, last);
    for (const { seq } of repeated) this.deleteRow.run(seq);
    this.duplicates += repeated.length;
    const ledgerBefore = this.lastLedgerId.get()?.id ?? 0;
    const charged = this.insertCharges.run(first, last).changes;
    if (charged === this.chargeable.get(first, last)?.rows) {
      this.upsertRollups.run(first, last);
      this.addToBalances.run(first, last);
    } else {
      // Charged before under its id: a usage row written twice (an id reused after its row
      // was pruned, or a server older than migration 0002 that charged it itself). The
      // request is in the ledger and the rollups already; count it once.
      const skipped = this.chargedBefore.all(first, last, ledgerBefore).map((row) => row.seq);
      this.duplicates += skipped.length;
      this.upsertRollupsExcept.run(first, last, JSON.stringify(skipped));
      this.addToBalancesExcept.run(first, last, JSON.stringify(skipped));
    }
    this.moveWatermark.run(last);
    return marked + repeated.length;
  }

  /**
   * Applies every settled row after the watermark (this process's and any other's). Cheap
   * when there is nothing to apply: two index lookups, no write.
   */
  catchUp(): number {
    let applied = 0;
    let watermark = this.watermark();
    while ((this.lastSeq.get()?.seq ?? 0) > watermark) {
      applied += this.applyBatch();
      const moved = this.watermark();
      if (moved <= watermark) break; // rows after the watermark exist, so it always moves; never spin
      watermark = moved;
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
      this.rememberedIds.add(row.requestId);
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
