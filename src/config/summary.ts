// The summary `parrotrouter check-config` prints: providers, models, routes and prices.

import type { AppConfig } from "./load";

export function summarizeConfig(config: AppConfig) {
  const providers = Object.values(config.providers).map((p) => ({ id: p.id, type: p.type, base_url: p.base_url ?? "(default)", api_key: p.api_key ? "set" : "none" }));
  const models = Object.values(config.models).map((m) => ({
    name: m.name,
    strategy: m.strategy,
    routes: m.routes.map((r) => `${r.provider}/${r.model}${m.strategy === "weighted" ? ` (weight ${r.weight})` : ""}`),
    pricing_usd_per_million: { input: m.pricing.inputNanoPerMillion / 1e9, output: m.pricing.outputNanoPerMillion / 1e9, cached_input: m.pricing.cachedInputNanoPerMillion / 1e9 },
    max_output_tokens: m.maxOutputTokens,
  }));
  const lines = [
    `config ${config.sourcePath} is valid`,
    `database: ${config.databasePath}`,
    `listen: ${config.server.host}:${config.server.port}`,
    `test keys: ${config.testKeys}`,
    "",
    `providers (${providers.length}):`,
    ...providers.map((p) => `  ${p.id}: ${p.type} ${p.base_url} (api key: ${p.api_key})`),
    "",
    `models (${models.length}):`,
    ...models.map((m) => `  ${m.name} → ${m.routes.join(" → ")}  [$${m.pricing_usd_per_million.input}/$${m.pricing_usd_per_million.output} per 1M in/out]`),
  ];
  return { valid: true, providers, models, text: lines.join("\n") };
}
