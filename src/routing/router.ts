// Model resolution and the route plan: which provider/model pairs to try, in what order,
// with retries, exponential backoff that honours retry-after, and cooldown of failing routes.

import type { AppConfig, ModelConfig, RouteTarget } from "../config/load";
import { ApiError, UpstreamError } from "../shared/errors";
import type { Clock } from "../shared/clock";

/** One place a request can go. */
export interface RouteAttempt {
  model: ModelConfig;
  route: RouteTarget;
}

/** Longest retry-after we wait out on the same route before moving on. */
const MAX_RETRY_WAIT_MS = 10_000;
const BASE_BACKOFF_MS = 200;

/** Looks up a model by its configured name, or `provider/model` when direct routing is allowed. */
export function resolveModel(config: AppConfig, name: string): ModelConfig | undefined {
  const configured = config.models[name];
  if (configured) return configured;
  if (!config.routing.allowDirect) return undefined;
  const slash = name.indexOf("/");
  if (slash <= 0) return undefined;
  const provider = name.slice(0, slash);
  const upstreamModel = name.slice(slash + 1);
  if (!config.providers[provider]) return undefined;
  // A direct name is billed at the price of a configured model that routes to it; targets no
  // model prices are refused, so direct routing can never be a way around pricing.
  const pricedBy = Object.values(config.models).find((m) => m.routes.some((r) => r.provider === provider && r.model === upstreamModel));
  if (!pricedBy) return undefined;
  return { ...pricedBy, name, routes: [{ provider, model: upstreamModel, weight: 1 }], strategy: "fallback" };
}

/** Remembers failures per route and skips a route in cooldown. */
export class RouteHealth {
  private readonly failures = new Map<string, number>();
  private readonly cooledUntil = new Map<string, number>();

  constructor(
    private readonly settings: AppConfig["routing"],
    private readonly clock: Clock,
  ) {}

  private static id(route: RouteTarget): string {
    return `${route.provider}/${route.model}`;
  }

  isCoolingDown(route: RouteTarget): boolean {
    const until = this.cooledUntil.get(RouteHealth.id(route));
    return until !== undefined && until > this.clock.now();
  }

  recordSuccess(route: RouteTarget): void {
    this.failures.delete(RouteHealth.id(route));
    this.cooledUntil.delete(RouteHealth.id(route));
  }

  recordFailure(route: RouteTarget): void {
    const id = RouteHealth.id(route);
    const count = (this.failures.get(id) ?? 0) + 1;
    this.failures.set(id, count);
    if (count >= this.settings.cooldownAfterFailures) {
      this.cooledUntil.set(id, this.clock.now() + this.settings.cooldownMs);
      this.failures.delete(id);
    }
  }
}

/** Orders one model's routes: as written for `fallback`, by weighted draw for `weighted`. */
export function orderRoutes(model: ModelConfig, random: () => number = Math.random): RouteTarget[] {
  if (model.strategy !== "weighted") return model.routes;
  const pool = [...model.routes];
  const ordered: RouteTarget[] = [];
  while (pool.length > 0) {
    const total = pool.reduce((sum, r) => sum + r.weight, 0);
    let pick = random() * total;
    let index = pool.findIndex((r) => (pick -= r.weight) < 0);
    if (index === -1) index = pool.length - 1;
    ordered.push(pool.splice(index, 1)[0]!);
  }
  return ordered;
}

/** Every attempt for the models in order, healthy routes first, cooled-down routes last. */
export function planAttempts(models: ModelConfig[], health: RouteHealth): RouteAttempt[] {
  const healthy: RouteAttempt[] = [];
  const cooling: RouteAttempt[] = [];
  for (const model of models) {
    for (const route of orderRoutes(model)) (health.isCoolingDown(route) ? cooling : healthy).push({ model, route });
  }
  // When every route is cooling down, trying them beats refusing outright.
  return healthy.length > 0 ? healthy : cooling;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

/**
 * Runs `send` over the plan: retryable failures retry the same route up to `retries` times
 * (backoff with jitter, honouring retry-after) and then fall back to the next route.
 */
export async function runWithFallback<T>(
  plan: RouteAttempt[],
  retries: number,
  health: RouteHealth,
  signal: AbortSignal,
  send: (attempt: RouteAttempt) => Promise<T>,
): Promise<{ result: T; attempt: RouteAttempt }> {
  let lastError: unknown = new ApiError({ code: "upstream_unavailable", message: "No route available for this model" });
  for (const attempt of plan) {
    for (let tries = 0; tries <= retries; tries++) {
      try {
        const result = await send(attempt);
        health.recordSuccess(attempt.route);
        return { result, attempt };
      } catch (error) {
        if (signal.aborted) throw error;
        lastError = error;
        if (!(error instanceof UpstreamError) || !error.retryable) throw error;
        health.recordFailure(attempt.route);
        const wait = error.retryAfterMs ?? BASE_BACKOFF_MS * 2 ** tries * (0.5 + Math.random());
        if (tries === retries || wait > MAX_RETRY_WAIT_MS || health.isCoolingDown(attempt.route)) break;
        await sleep(wait, signal);
      }
    }
  }
  throw lastError;
}
