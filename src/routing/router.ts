// Runs a request over its route plan: retryable failures (connection error, timeout before
// the first byte, 429, 5xx) retry the same route with exponential backoff and jitter that
// honours retry-after, then fall back to the next route; failing routes cool down.

import type { AppConfig, ModelConfig } from "../config/load";
import type { Clock } from "../shared/clock";
import { ApiError, UpstreamError } from "../shared/errors";
import { RouteHealth } from "./health";
import { planAttempts, type RouteAttempt } from "./plan";

export { resolveModel } from "./resolve";
export { RouteHealth } from "./health";
export { orderRoutes, planAttempts, type RouteAttempt } from "./plan";

/** Longest retry-after waited out on the same route; a longer one moves on to the next route. */
export const MAX_RETRY_WAIT_MS = 10_000;
/** First backoff; doubles with each retry of the same route, up to MAX_BACKOFF_MS. */
export const BASE_BACKOFF_MS = 200;
export const MAX_BACKOFF_MS = 5_000;

/** Waiting and chance, injectable so tests can assert waits and weighted draws exactly. */
export interface RouterSeams {
  /** Waits before a retry; rejects when `signal` aborts (the client went away). */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Uniform in [0, 1): backoff jitter and weighted draws. */
  random(): number;
}

export const systemSeams: RouterSeams = {
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    }),
  random: Math.random,
};

/**
 * How long to wait before retry number `retry` (0-based) of a route: the upstream's
 * retry-after when it gave one, else 200 ms × 2^retry with ±50 % jitter so that clients
 * failing together do not retry together.
 */
export function retryDelayMs(retry: number, error: UpstreamError, random: () => number): number {
  if (error.retryAfterMs !== undefined) return error.retryAfterMs;
  return Math.round(Math.min(BASE_BACKOFF_MS * 2 ** retry, MAX_BACKOFF_MS) * (0.5 + random()));
}

/** The routing of one runtime: route health plus the retry policy from `routing:` config. */
export class Router {
  readonly health: RouteHealth;

  constructor(
    private readonly settings: AppConfig["routing"],
    clock: Clock,
    private readonly seams: RouterSeams = systemSeams,
  ) {
    this.health = new RouteHealth(settings, clock);
  }

  /** The attempts for `models`, in the order they will be tried. */
  plan(models: ModelConfig[]): RouteAttempt[] {
    return planAttempts(models, this.health, this.seams.random);
  }

  /**
   * Calls `send` for each attempt until one succeeds. A non-retryable error (the request
   * itself is wrong) ends at once: no other route would take it either.
   */
  async run<T>(models: ModelConfig[], signal: AbortSignal, send: (attempt: RouteAttempt) => Promise<T>): Promise<{ result: T; attempt: RouteAttempt }> {
    let lastError: unknown;
    for (const attempt of this.plan(models)) {
      for (let retry = 0; ; retry++) {
        try {
          const result = await send(attempt);
          this.health.recordSuccess(attempt.route);
          return { result, attempt };
        } catch (error) {
          if (signal.aborted || !(error instanceof UpstreamError) || !error.retryable) throw error;
          lastError = error;
          const waitMs = retryDelayMs(retry, error, this.seams.random);
          const tooLong = waitMs > MAX_RETRY_WAIT_MS;
          this.health.recordFailure(attempt.route, tooLong ? waitMs : 0);
          if (retry >= this.settings.retries || tooLong || this.health.isCoolingDown(attempt.route)) break;
          await this.seams.sleep(waitMs, signal);
        }
      }
    }
    // Built only when needed: an Error's stack capture is not free on the hot path.
    throw lastError ?? new ApiError({ code: "upstream_unavailable", message: "No route available for this model" });
  }
}
