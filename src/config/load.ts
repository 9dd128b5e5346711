// Reads the YAML config, expands `${VAR}`s, validates it against the schema and resolves it
// into the AppConfig the server runs on. Every problem is reported with its field path.

import { existsSync, readFileSync } from "node:fs";
import { ValueErrorType, type ValueError } from "@sinclair/typebox/errors";
import { Value } from "@sinclair/typebox/value";
import { parseDocument } from "yaml";
import { PROVIDER_TYPES, TYPES_WITH_DEFAULT_BASE_URL } from "../providers/registry";
import type { ProviderSettings } from "../providers/types";
import { usdToNano } from "../shared/money";
import { interpolateEnv } from "./interpolate";
// Embedded so the compiled binary runs anywhere with the mock setup, like `npm start`.
import EXAMPLE_CONFIG from "../../config.example.yaml" with { type: "text" };

const EXAMPLE_CONFIG_PATH = "config.example.yaml";
import { ConfigSchema, type RawConfig, type RawModel } from "./schema";

export interface RouteTarget {
  /** Provider id from `providers`. */
  provider: string;
  /** The model name sent upstream. */
  model: string;
  /** Share of traffic under `strategy: weighted`. */
  weight: number;
}

/** A model's price in nano-USD per million tokens (integers, so cost math stays exact). */
export interface ModelPricing {
  inputNanoPerMillion: number;
  outputNanoPerMillion: number;
  cachedInputNanoPerMillion: number;
}

export interface ModelConfig {
  name: string;
  routes: RouteTarget[];
  strategy: "fallback" | "weighted";
  pricing: ModelPricing;
  /** Output tokens assumed for a hold when the request sets no `max_tokens`. */
  maxOutputTokens: number;
}

export interface AppConfig {
  /** The file this config came from. */
  sourcePath: string;
  server: { host: string; port: number; maxBodyBytes: number; shutdownGraceMs: number };
  databasePath: string;
  adminToken?: string;
  startingCreditsNanoUsd: number;
  logLevel: "debug" | "info" | "warn" | "error";
  usageRetentionDays: number;
  testKeys: "simulate" | "live";
  rateLimits: { rpm?: number; tpm?: number };
  routing: { allowDirect: boolean; retries: number; cooldownMs: number; cooldownAfterFailures: number };
  providers: Record<string, ProviderSettings>;
  models: Record<string, ModelConfig>;
}

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    readonly sourcePath: string,
  ) {
    super(`invalid config ${sourcePath}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

export const DEFAULT_MAX_OUTPUT_TOKENS = 4096;

/** Finds the config file: --config, then PARROTROUTER_CONFIG, then ./config.yaml, else the example. */
export function resolveConfigPath(flag: string | undefined, env: Record<string, string | undefined>): string {
  if (flag) return flag;
  if (env.PARROTROUTER_CONFIG) return env.PARROTROUTER_CONFIG;
  if (existsSync("config.yaml")) return "config.yaml";
  return EXAMPLE_CONFIG_PATH;
}

/** Loads and validates a config file; throws ConfigError listing every problem. */
export function loadConfigFile(path: string, env: Record<string, string | undefined> = process.env): { config: AppConfig; warnings: string[] } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    if (path !== EXAMPLE_CONFIG_PATH) throw new ConfigError([`cannot read the config file ${path}`], path);
    text = EXAMPLE_CONFIG as unknown as string;
  }
  return parseConfig(text, path, env);
}

/** Validates config text; exported for tests and for SIGHUP reloads. */
export function parseConfig(text: string, sourcePath: string, env: Record<string, string | undefined>): { config: AppConfig; warnings: string[] } {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(document.errors.map((e) => `YAML syntax: ${e.message.split("\n")[0]}`), sourcePath);
  }
  const parsed = document.toJS() ?? {};
  const { value, missing } = interpolateEnv(parsed, env);
  const problems: string[] = [];
  const warnings: string[] = [];

  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new ConfigError(["the config must be a YAML mapping with `providers` and `models`"], sourcePath);
  }
  const schemaProblems = dedupe([...Value.Errors(ConfigSchema, value)].map(describeSchemaError));
  // A wrong type somewhere must not hide the other mistakes: the checks below still run over
  // every provider and model that has a usable shape, so one start lists everything to fix.
  const raw = withUsableShape(value as RawConfig);
  const usedProviders = new Set<string>();
  for (const model of Object.values(raw.models)) for (const route of model.routes) usedProviders.add(routeTargetOf(route).split("/")[0]!);

  for (const { path, variable } of missing) {
    const providerId = path.startsWith("providers.") ? path.split(".")[1]! : undefined;
    const message = `${path}: environment variable ${variable} is not set`;
    if (providerId && !usedProviders.has(providerId)) warnings.push(`${message} (provider ${providerId} is used by no model)`);
    else problems.push(message);
  }

  const providers: Record<string, ProviderSettings> = {};
  for (const [id, provider] of Object.entries(raw.providers)) {
    const path = `providers.${id}`;
    if (id.includes("/")) problems.push(`${path}: a provider id cannot contain "/"`);
    if (!PROVIDER_TYPES.includes(provider.type)) {
      problems.push(`${path}.type: expected one of ${PROVIDER_TYPES.join(", ")}${suggest(provider.type, PROVIDER_TYPES)}`);
      continue;
    }
    if (provider.base_url !== undefined && provider.base_url !== "" && !isHttpUrl(provider.base_url)) {
      problems.push(`${path}.base_url: expected a URL (http:// or https://)`);
    }
    if (!provider.base_url && !TYPES_WITH_DEFAULT_BASE_URL.has(provider.type)) {
      problems.push(`${path}.base_url: expected a URL; type ${provider.type} has no default`);
    }
    const needsKey = ["openai", "anthropic", "gemini", "azure"].includes(provider.type);
    const keyMissingFromEnv = missing.some((m) => m.path === `${path}.api_key`);
    if (needsKey && !provider.api_key && !keyMissingFromEnv && usedProviders.has(id)) {
      problems.push(`${path}.api_key: required for type ${provider.type}`);
    }
    providers[id] = {
      id,
      type: provider.type,
      base_url: provider.base_url || undefined,
      api_key: provider.api_key || undefined,
      headers: provider.headers,
      api_version: provider.api_version,
      anthropic_version: provider.anthropic_version,
      first_byte_timeout_ms: (provider.first_byte_timeout_seconds ?? 60) * 1000,
      idle_timeout_ms: (provider.idle_timeout_seconds ?? 120) * 1000,
      latency_ms: provider.latency_ms,
      chunk_delay_ms: provider.chunk_delay_ms,
    };
  }

  const models: Record<string, ModelConfig> = {};
  for (const [name, model] of Object.entries(raw.models)) {
    models[name] = resolveModel(name, model, raw.providers, problems);
  }
  // A field with a schema error is reported once, by the schema.
  const broken = schemaProblems.map((line) => line.slice(0, line.indexOf(":")));
  const semanticProblems = problems.filter((line) => !broken.some((path) => line === path || line.startsWith(`${path}:`) || line.startsWith(`${path}.`)));
  if (schemaProblems.length + semanticProblems.length > 0) throw new ConfigError(dedupe([...schemaProblems, ...semanticProblems]), sourcePath);

  const routing = raw.routing ?? {};
  return {
    warnings,
    config: {
      sourcePath,
      server: {
        host: raw.server?.host ?? "0.0.0.0",
        port: raw.server?.port ?? 8080,
        maxBodyBytes: Math.floor((raw.server?.max_body_mb ?? 20) * 1024 * 1024),
        shutdownGraceMs: (raw.server?.shutdown_grace_seconds ?? 30) * 1000,
      },
      databasePath: raw.database?.path ?? "data/parrotrouter.db",
      adminToken: raw.admin?.token || undefined,
      startingCreditsNanoUsd: usdToNano(raw.credits?.starting_usd ?? 5),
      logLevel: (raw.log?.level ?? "info") as AppConfig["logLevel"],
      usageRetentionDays: raw.usage?.retention_days ?? 30,
      testKeys: raw.test_keys ?? "simulate",
      rateLimits: { rpm: raw.rate_limits?.rpm, tpm: raw.rate_limits?.tpm },
      routing: {
        allowDirect: routing.allow_direct ?? false,
        retries: routing.retries ?? 1,
        cooldownMs: (routing.cooldown_seconds ?? 30) * 1000,
        cooldownAfterFailures: routing.cooldown_after_failures ?? 3,
      },
      providers,
      models,
    },
  };
}

const isMapping = (value: unknown): value is Record<string, unknown> => !!value && typeof value === "object" && !Array.isArray(value);

/**
 * The providers and models of a config that failed its schema, keeping only entries whose
 * shape the semantic checks can read (a provider mapping with a string type; a model whose
 * routes are a list of strings or {target} mappings). Unchanged when the schema passed.
 */
function withUsableShape(config: RawConfig): RawConfig {
  const providers = isMapping(config.providers) ? config.providers : {};
  const models = isMapping(config.models) ? config.models : {};
  return {
    ...config,
    providers: Object.fromEntries(Object.entries(providers).filter(([, p]) => isMapping(p) && typeof p.type === "string")),
    models: Object.fromEntries(
      Object.entries(models)
        .filter(([, m]) => isMapping(m) && Array.isArray(m.routes))
        .map(([name, m]) => [name, { ...m, routes: m.routes.filter((r) => typeof r === "string" || (isMapping(r) && typeof r.target === "string")) }]),
    ),
  };
}

function routeTargetOf(route: RawModel["routes"][number]): string {
  return typeof route === "string" ? route : route.target;
}

function resolveModel(name: string, model: RawModel, rawProviders: RawConfig["providers"], problems: string[]): ModelConfig {
  const routes: RouteTarget[] = [];
  model.routes.forEach((route, i) => {
    const target = routeTargetOf(route);
    const slash = target.indexOf("/");
    const path = `models.${name}.routes.${i}`;
    if (slash <= 0 || slash === target.length - 1) {
      problems.push(`${path}: expected "provider/model", got "${target}"`);
      return;
    }
    const provider = target.slice(0, slash);
    if (!rawProviders[provider]) {
      problems.push(`${path}: unknown provider "${provider}"${suggest(provider, Object.keys(rawProviders))}`);
      return;
    }
    routes.push({ provider, model: target.slice(slash + 1), weight: typeof route === "string" ? 1 : (route.weight ?? 1) });
  });
  return {
    name,
    routes,
    strategy: model.strategy ?? "fallback",
    pricing: {
      inputNanoPerMillion: usdToNano(model.pricing?.input ?? 0),
      outputNanoPerMillion: usdToNano(model.pricing?.output ?? 0),
      cachedInputNanoPerMillion: usdToNano(model.pricing?.cached_input ?? model.pricing?.input ?? 0),
    },
    maxOutputTokens: model.max_output_tokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
  };
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

/** One readable line per schema error: `path: what was expected`. */
function describeSchemaError(error: ValueError): string {
  const segments = error.path.split("/").filter(Boolean);
  const path = segments.join(".") || "(top level)";
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties: {
      const parentSchema = error.schema as { properties?: Record<string, unknown> };
      const known = Object.keys(parentSchema.properties ?? {});
      return `${path}: unknown field${suggest(segments.at(-1) ?? "", known)}`;
    }
    case ValueErrorType.ObjectRequiredProperty:
      return `${path}: required`;
    case ValueErrorType.Integer:
      return `${path}: expected an integer`;
    case ValueErrorType.Number:
      return `${path}: expected a number`;
    case ValueErrorType.String:
      return `${path}: expected a string`;
    case ValueErrorType.Boolean:
      return `${path}: expected true or false`;
    case ValueErrorType.Object:
      return `${path}: expected a mapping`;
    case ValueErrorType.Array:
      return `${path}: expected a list`;
    case ValueErrorType.ArrayMinItems:
      return `${path}: expected at least ${(error.schema as unknown as { minItems: number }).minItems} item(s)`;
    case ValueErrorType.StringMinLength:
      return `${path}: expected a non-empty string`;
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return `${path}: expected a number ≥ ${(error.schema as unknown as { minimum: number }).minimum}`;
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return `${path}: expected a number ≤ ${(error.schema as unknown as { maximum: number }).maximum}`;
    case ValueErrorType.NumberExclusiveMinimum:
    case ValueErrorType.IntegerExclusiveMinimum:
      return `${path}: expected a number > ${(error.schema as unknown as { exclusiveMinimum: number }).exclusiveMinimum}`;
    case ValueErrorType.Union: {
      const options = ((error.schema as { anyOf?: { const?: unknown }[] }).anyOf ?? []).map((s) => s.const);
      if (options.length > 0 && options.every((o) => typeof o === "string")) return `${path}: expected one of ${options.join(", ")}`;
      return `${path}: expected a "provider/model" string or {target, weight}`;
    }
    default:
      return `${path}: ${error.message.toLowerCase()}`;
  }
}

function dedupe(lines: string[]): string[] {
  return [...new Set(lines)];
}

/** `, did you mean X?` when a known name is within two edits. */
function suggest(word: string, candidates: string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best ? `, did you mean ${best}?` : "";
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
