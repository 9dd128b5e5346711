// Group commit for settlements: requests that finish in the same event-loop turn share one
// write transaction (its pages are written once, not once per request), and each learns its
// outcome only after that transaction has committed. A request with no other in flight
// commits at once: there is nobody to wait for.

interface Waiting<Item, Outcome> {
  item: Item;
  resolve: (outcome: Outcome) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<Item, Outcome> {
  private waiting: Waiting<Item, Outcome>[] = [];
  private scheduled = false;

  /** `write` commits its items in one transaction and returns their outcomes, in order. */
  constructor(private readonly write: (items: Item[]) => Outcome[]) {}

  /**
   * Queues an item for the next commit; resolves once it has committed. `alone` says no
   * other request is in flight: then there is nobody to wait for, and it commits at once
   * (a lone client does not pay an event-loop turn per request).
   */
  commit(item: Item, alone = false): Promise<Outcome> {
    if (alone && this.waiting.length === 0) {
      try {
        return Promise.resolve(this.write([item])[0]!);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
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
    let outcomes: Outcome[];
    try {
      outcomes = this.write(batch.map((w) => w.item));
    } catch {
      // One failing write must not fail its neighbours: each gets its own transaction.
      for (const w of batch) {
        try {
          w.resolve(this.write([w.item])[0]!);
        } catch (error) {
          w.reject(error);
        }
      }
      return;
    }
    batch.forEach((w, i) => w.resolve(outcomes[i]!));
  }
}
