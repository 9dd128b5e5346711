// The one map from a provider `type` in config to the module that speaks its dialect.
// Adding a provider is one file and one line here.

import { createAnthropicProvider } from "./anthropic";
import { createAzureProvider } from "./azure";
import { createGeminiProvider } from "./gemini";
import { createMockProvider } from "./mock";
import { createOpenAIProvider } from "./openai";
import type { Provider, ProviderSettings } from "./types";

const PROVIDER_FACTORIES: Record<string, (settings: ProviderSettings) => Provider> = {
  openai: createOpenAIProvider,
  "openai-compatible": createOpenAIProvider,
  mock: createMockProvider,
  anthropic: createAnthropicProvider,
  gemini: createGeminiProvider,
  azure: createAzureProvider,
};

/** Provider types the config accepts. */
export const PROVIDER_TYPES = Object.keys(PROVIDER_FACTORIES);

/** Provider types that need no `base_url` because they have a well-known default. */
export const TYPES_WITH_DEFAULT_BASE_URL = new Set(["openai", "anthropic", "gemini", "mock"]);

export function createProvider(settings: ProviderSettings): Provider {
  const factory = PROVIDER_FACTORIES[settings.type];
  if (!factory) throw new Error(`unknown provider type ${settings.type}`);
  return factory(settings);
}
