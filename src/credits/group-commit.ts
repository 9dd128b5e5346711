// Group commit for settlements: requests that finish in the same event-loop turn share one
// write transaction (its pages are written once, not once per request), and each learns its
// outcome only after that transaction has committed. A request with no other in flight
// commits at once: there is nobody to wait for.

import type { LedgerRepository, Settled, Settlement } from "./ledger-repository";

interface Waiting {
  settlement: Settlement;
  resolve: (settled: Settled) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit {
  private waiting: Waiting[] = [];
  private scheduled = false;

  constructor(private readonly ledger: LedgerRepository) {}

  /**
   * Queues a settlement for the next commit; resolves once it has committed. `alone` says no
   * other request is in flight: then there is nobody to wait for, and it commits at once
   * (a lone client does not pay an event-loop turn per request).
   */
  settle(settlement: Settlement, alone = false): Promise<Settled> {
    if (alone && this.waiting.length === 0) {
      try {
        return Promise.resolve(this.settleOne(settlement));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ settlement, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      // After this turn's I/O callbacks, so every request that finished in it joins.
      setImmediate(() => this.flush());
    });
  }

  /** Commits everything queued so far in one transaction. */
  flush(): void {
    this.scheduled = false;
    const batch = this.waiting;
    if (batch.length === 0) return;
    this.waiting = [];
    let results: Settled[];
    try {
      results = batch.length === 1 ? [this.settleOne(batch[0]!.settlement)] : this.ledger.settleMany(batch.map((w) => w.settlement));
    } catch {
      // One failing write must not fail its neighbours: each gets its own transaction.
      for (const w of batch) {
        try {
          w.resolve(this.settleOne(w.settlement));
        } catch (error) {
          w.reject(error);
        }
      }
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i]!));
  }

  private settleOne({ record, hour, charge }: Settlement): Settled {
    return this.ledger.settle(record, hour, charge);
  }
}
