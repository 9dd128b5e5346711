// Which model a client's name stands for: configured names, and provider/model direct names
// only where routing.allow_direct allows them and a configured model prices the target.

import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load";
import { resolveModel } from "../../src/routing/router";

function config(allowDirect: boolean) {
  return parseConfig(
    `
routing: { allow_direct: ${allowDirect} }
providers:
  openai: { type: openai, api_key: sk-x }
  anthropic: { type: anthropic, api_key: sk-y }
models:
  smart:
    strategy: weighted
    routes: [anthropic/claude-sonnet-4-5, openai/gpt-4o]
    pricing: { input: 3, output: 15 }
    max_output_tokens: 8192
`,
    "test.yaml",
    {},
  ).config;
}

describe("resolveModel", () => {
  test("a configured name is that model, with all its routes", () => {
    expect(resolveModel(config(false), "smart")?.routes).toHaveLength(2);
  });

  test("direct names are refused unless allow_direct is on", () => {
    expect(resolveModel(config(false), "openai/gpt-4o")).toBeUndefined();
  });

  test("a direct name is one route, billed like the configured model that routes there", () => {
    const direct = resolveModel(config(true), "openai/gpt-4o")!;
    expect(direct.name).toBe("openai/gpt-4o");
    expect(direct.routes).toEqual([{ provider: "openai", model: "gpt-4o", weight: 1 }]);
    expect(direct.strategy).toBe("fallback");
    expect(direct.pricing).toEqual(config(true).models.smart!.pricing);
    expect(direct.maxOutputTokens).toBe(8192);
  });

  test("unpriced targets, unknown providers and malformed names are refused", () => {
    for (const name of ["openai/gpt-5", "azure/gpt-4o", "/gpt-4o", "openai/", "gpt-4o"]) {
      expect(resolveModel(config(true), name)).toBeUndefined();
    }
  });
});
