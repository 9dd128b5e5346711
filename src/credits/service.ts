// Holds and settlement (DESIGN.md §2): before forwarding, reserve the worst-case cost against
// the project's balance minus open holds (and the key's spend cap); after the response,
// replace the hold by the real charge. Holds live in memory: one process owns them, and a
// crash leaves none behind.

import type { ModelConfig } from "../config/load";
import type { KeyRecord } from "../keys/repository";
import type { Usage } from "../providers/types";
import { ApiError, SEED_ERRORS } from "../shared/errors";
import { nanoToUsdString } from "../shared/money";
import { GroupCommit } from "./group-commit";
import type { LedgerRepository, RequestRecord } from "./ledger-repository";
import { affordableOutputTokens, costOfUsage, worstCaseCost } from "./pricing";
import { windowStart } from "./windows";

const LIMIT_PERIOD = { daily: "day", weekly: "week", monthly: "month" } as const;

export interface Hold {
  projectId: string;
  /** The key's lineage: what its spend cap is counted against (see KeyRecord.lineageId). */
  lineageId: string;
  amountNanoUsd: number;
  /** False for test keys in simulate mode and for free models at zero cost. */
  charged: boolean;
  settled: boolean;
}

export interface HoldRequest {
  key: KeyRecord;
  model: ModelConfig;
  /** Estimated prompt tokens. */
  inputTokens: number;
  /** The client's `max_tokens`, else the model's configured maximum. */
  maxOutputTokens: number;
  /** False when nothing will be charged (test keys answered by the simulator). */
  charge: boolean;
}

export interface SettleOutcome {
  costNanoUsd: number;
  /** The project's balance after the charge, when known. */
  balanceNanoUsd: number | null;
  duplicate: boolean;
}

/** A usage row on its way to the database, with the spend window it counts against. */
interface Settling {
  record: RequestRecord;
  lineageId: string;
}

export class CreditService {
  private readonly balances = new Map<string, number>();
  private readonly heldByProject = new Map<string, number>();
  /** Open holds and window spend per key lineage: a rotated key continues its predecessor's. */
  private readonly heldByLineage = new Map<string, number>();
  private readonly lineageSpend = new Map<string, { since: number; spentNanoUsd: number }>();
  private open = 0;
  private readonly commits = new GroupCommit<Settling, SettleOutcome>((settling) => this.commit(settling));

  constructor(private readonly ledger: LedgerRepository) {}

  /** Number of holds not yet settled (a metric, and 0 after every request has ended). */
  openHolds(): number {
    return this.open;
  }

  /** Settlement write transactions so far (group commit: usually fewer than requests). */
  settlementTransactions(): number {
    return this.ledger.transactions;
  }

  /** Forget cached balances and spends (another process changed the database). */
  clearCaches(): void {
    this.balances.clear();
    this.lineageSpend.clear();
  }

  balanceOf(projectId: string): number {
    const cached = this.balances.get(projectId);
    if (cached !== undefined) return cached;
    const balance = this.ledger.balance(projectId) ?? 0;
    this.balances.set(projectId, balance);
    return balance;
  }

  /** A project's balance minus what its open holds reserve. */
  availableOf(projectId: string): number {
    return this.balanceOf(projectId) - (this.heldByProject.get(projectId) ?? 0);
  }

  /** Reserves the worst case or throws 402. Synchronous, so check-and-reserve is atomic. */
  placeHold(request: HoldRequest, now: number): Hold {
    const { key, model } = request;
    const amount = request.charge ? worstCaseCost(request.inputTokens, request.maxOutputTokens, model.pricing) : 0;
    const hold: Hold = { projectId: key.projectId, lineageId: key.lineageId, amountNanoUsd: amount, charged: request.charge, settled: false };
    if (request.charge && amount > 0) {
      const balance = this.balanceOf(key.projectId);
      // An empty project answers with the seed's exact 402 first, whatever the key's own cap.
      if (balance <= 0) throw SEED_ERRORS.noCredits();
      this.checkKeyLimit(key, amount, now);
      const available = balance - (this.heldByProject.get(key.projectId) ?? 0);
      if (available < amount) {
        const affordable = affordableOutputTokens(available, request.inputTokens, model.pricing);
        throw new ApiError({
          code: "insufficient_credits",
          message:
            `Insufficient credits. This request requires more credits, or fewer max_tokens. ` +
            `You requested up to ${request.maxOutputTokens} tokens, but can only afford ${affordable}.`,
        });
      }
    }
    this.heldByProject.set(key.projectId, (this.heldByProject.get(key.projectId) ?? 0) + amount);
    this.heldByLineage.set(key.lineageId, (this.heldByLineage.get(key.lineageId) ?? 0) + amount);
    this.open++;
    return hold;
  }

  private checkKeyLimit(key: KeyRecord, amount: number, now: number): void {
    if (key.spendLimitNanoUsd === null) return;
    const spent = this.keySpent(key, now);
    const held = this.heldByLineage.get(key.lineageId) ?? 0;
    if (spent + held + amount <= key.spendLimitNanoUsd) return;
    const period = key.limitReset ? ` per ${LIMIT_PERIOD[key.limitReset]}` : "";
    throw new ApiError({
      code: "insufficient_credits",
      message:
        `Insufficient credits: this key's spend limit of $${nanoToUsdString(key.spendLimitNanoUsd)}${period} is reached ` +
        `($${nanoToUsdString(spent)} spent, $${nanoToUsdString(held)} reserved). Other keys of the project are not affected.`,
    });
  }

  /** What a key (with the keys it was rotated from) spent in its current limit window. */
  keySpent(key: KeyRecord, now: number): number {
    const since = windowStart(key.limitReset, now);
    const cached = this.lineageSpend.get(key.lineageId);
    if (cached && cached.since === since) return cached.spentNanoUsd;
    const spentNanoUsd = this.ledger.keySpend(key.lineageId, since);
    this.lineageSpend.set(key.lineageId, { since, spentNanoUsd });
    return spentNanoUsd;
  }

  /**
   * Replaces the hold by the real charge: commits the request's usage row, from which its
   * charge is applied to the ledger. Idempotent per request id; always releases the hold,
   * even when the write fails.
   */
  settle(hold: Hold, record: Omit<RequestRecord, "costNanoUsd">, usage: Usage, model: ModelConfig): SettleOutcome {
    try {
      return this.commit([this.settlingOf(hold, record, usage, model)])[0]!;
    } finally {
      this.release(hold);
    }
  }

  /**
   * `settle` through the group commit: the write joins the requests finishing in the same
   * event-loop turn, and this resolves once it has committed.
   */
  async settleGrouped(hold: Hold, record: Omit<RequestRecord, "costNanoUsd">, usage: Usage, model: ModelConfig): Promise<SettleOutcome> {
    try {
      return await this.commits.commit(this.settlingOf(hold, record, usage, model), this.open === 1);
    } finally {
      this.release(hold);
    }
  }

  private settlingOf(hold: Hold, record: Omit<RequestRecord, "costNanoUsd">, usage: Usage, model: ModelConfig): Settling {
    return { record: { ...record, costNanoUsd: hold.charged ? costOfUsage(usage, model.pricing) : 0 }, lineageId: hold.lineageId };
  }

  /**
   * Commits usage rows and, in the same synchronous step, brings the cached balances and
   * spends up to date with them: nothing can read the cache between the two. Each request is
   * told the balance right after its own charge (when the balance is cached).
   */
  private commit(settling: Settling[]): SettleOutcome[] {
    const results = settling.length === 1 ? [this.ledger.settle(settling[0]!.record)] : this.ledger.settleMany(settling.map((s) => s.record));
    return results.map(({ duplicate }, i) => {
      const { record: { projectId, costNanoUsd }, lineageId } = settling[i]!;
      if (duplicate) return { costNanoUsd: 0, balanceNanoUsd: null, duplicate };
      let balance = this.balances.get(projectId);
      if (costNanoUsd > 0) {
        if (balance !== undefined) {
          balance -= costNanoUsd;
          this.balances.set(projectId, balance);
        }
        const spend = this.lineageSpend.get(lineageId);
        if (spend) spend.spentNanoUsd += costNanoUsd;
      }
      return { costNanoUsd, balanceNanoUsd: balance ?? null, duplicate };
    });
  }

  /** Frees a hold without charging (idempotent). */
  release(hold: Hold): void {
    if (hold.settled) return;
    hold.settled = true;
    this.open--;
    this.heldByProject.set(hold.projectId, (this.heldByProject.get(hold.projectId) ?? 0) - hold.amountNanoUsd);
    this.heldByLineage.set(hold.lineageId, (this.heldByLineage.get(hold.lineageId) ?? 0) - hold.amountNanoUsd);
  }
}
