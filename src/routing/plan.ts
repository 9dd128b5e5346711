// The order in which a request's routes are tried: the models in the client's order, each
// model's routes as written (`fallback`) or drawn by weight (`weighted`), cooled-down routes skipped.

import type { ModelConfig, RouteTarget } from "../config/load";
import { RouteHealth } from "./health";

/** One place a request can go: a route, and the model whose price it is billed at. */
export interface RouteAttempt {
  model: ModelConfig;
  route: RouteTarget;
}

/**
 * One model's routes in the order to try them. `weighted` draws the first route with
 * probability weight/total, then the next among the rest the same way, so the fallbacks
 * after a failure are spread by weight too.
 */
export function orderRoutes(model: ModelConfig, random: () => number): RouteTarget[] {
  if (model.strategy !== "weighted" || model.routes.length < 2) return model.routes;
  const pool = [...model.routes];
  const ordered: RouteTarget[] = [];
  while (pool.length > 1) {
    const total = pool.reduce((sum, r) => sum + r.weight, 0);
    let pick = random() * total;
    let index = pool.findIndex((r) => (pick -= r.weight) < 0);
    if (index === -1) index = pool.length - 1; // rounding at the top end
    ordered.push(pool.splice(index, 1)[0]!);
  }
  ordered.push(pool[0]!); // the last one needs no draw
  return ordered;
}

/**
 * Every attempt for the models in order. A route named by two models is tried once, at the
 * first model's price. Cooled-down routes are skipped; when every route is cooling down they
 * are all tried anyway, since a likely failure beats a certain refusal.
 */
export function planAttempts(models: ModelConfig[], health: RouteHealth, random: () => number): RouteAttempt[] {
  // One model with one route (the common case): it is tried whether or not it is cooling down.
  if (models.length === 1 && models[0]!.routes.length === 1) return [{ model: models[0]!, route: models[0]!.routes[0]! }];
  const seen = new Set<string>();
  const healthy: RouteAttempt[] = [];
  const cooling: RouteAttempt[] = [];
  for (const model of models) {
    for (const route of orderRoutes(model, random)) {
      const id = RouteHealth.id(route);
      if (seen.has(id)) continue;
      seen.add(id);
      (health.isCoolingDown(route) ? cooling : healthy).push({ model, route });
    }
  }
  return healthy.length > 0 ? healthy : cooling;
}
