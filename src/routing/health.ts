// Route health: consecutive failures put a route in cooldown so requests skip it for a while;
// after the cooldown one request probes it again, like a circuit breaker's half-open state.

import type { AppConfig, RouteTarget } from "../config/load";
import type { Clock } from "../shared/clock";

interface RouteState {
  /** Consecutive failures since the last success or cooldown. */
  failures: number;
  /** Epoch ms until which the route is skipped (0: not cooling). */
  cooledUntil: number;
  /** Cooled down before and not yet recovered: the next failure cools it again at once. */
  tripped: boolean;
}

/** Remembers failures per `provider/model` route and tells the planner which to skip. */
export class RouteHealth {
  private readonly routes = new Map<string, RouteState>();

  constructor(
    private readonly settings: Pick<AppConfig["routing"], "cooldownMs" | "cooldownAfterFailures">,
    private readonly clock: Clock,
  ) {}

  static id(route: RouteTarget): string {
    return `${route.provider}/${route.model}`;
  }

  isCoolingDown(route: RouteTarget): boolean {
    if (this.routes.size === 0) return false; // every route healthy: no id to build
    const state = this.routes.get(RouteHealth.id(route));
    return state !== undefined && state.cooledUntil > this.clock.now();
  }

  recordSuccess(route: RouteTarget): void {
    if (this.routes.size === 0) return;
    this.routes.delete(RouteHealth.id(route));
  }

  /**
   * Counts a failed attempt. `notBeforeMs` is an upstream's retry-after too long to wait out
   * in-request: the route is skipped at least that long, whatever the failure count.
   */
  recordFailure(route: RouteTarget, notBeforeMs = 0): void {
    const id = RouteHealth.id(route);
    const now = this.clock.now();
    let state = this.routes.get(id);
    if (!state) this.routes.set(id, (state = { failures: 0, cooledUntil: 0, tripped: false }));
    // Requests already in flight when the route cooled down do not stretch the cooldown.
    if (state.cooledUntil <= now) {
      state.failures++;
      if (state.tripped || state.failures >= this.settings.cooldownAfterFailures) {
        state.cooledUntil = now + this.settings.cooldownMs;
        state.failures = 0;
        state.tripped = this.settings.cooldownMs > 0;
      }
    }
    if (notBeforeMs > 0) state.cooledUntil = Math.max(state.cooledUntil, now + notBeforeMs);
  }
}
