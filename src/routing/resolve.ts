// Which configured model a name the client sends stands for: a model from `models:`, or a
// `provider/model` direct name when `routing.allow_direct` is on.

import type { AppConfig, ModelConfig } from "../config/load";

/** Looks up a model by its configured name, or `provider/model` when direct routing is allowed. */
export function resolveModel(config: AppConfig, name: string): ModelConfig | undefined {
  const configured = config.models[name];
  if (configured) return configured;
  if (!config.routing.allowDirect) return undefined;
  const slash = name.indexOf("/");
  if (slash <= 0 || slash === name.length - 1) return undefined;
  const provider = name.slice(0, slash);
  const upstreamModel = name.slice(slash + 1);
  if (!config.providers[provider]) return undefined;
  // A direct name is billed at the price of a configured model that routes to it; targets no
  // model prices are refused, so direct routing can never be a way around pricing.
  const pricedBy = Object.values(config.models).find((m) => m.routes.some((r) => r.provider === provider && r.model === upstreamModel));
  if (!pricedBy) return undefined;
  // Exactly that one route: a client naming a provider asked not to be sent elsewhere.
  return { ...pricedBy, name, routes: [{ provider, model: upstreamModel, weight: 1 }], strategy: "fallback" };
}
