// Config loading: ${VAR} expansion, schema errors with field paths, semantic checks, and the
// server refusing a bad config with exit code 2.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfig } from "../../src/config/load";

function problemsOf(yaml: string, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(yaml, "test.yaml", env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

const MINIMAL = `
providers:
  sim: { type: mock }
models:
  m: { routes: [sim/m] }
`;

describe("a valid config", () => {
  test("gets DESIGN.md's defaults", () => {
    const { config } = parseConfig(MINIMAL, "test.yaml", {});
    expect(config.server).toEqual({ host: "0.0.0.0", port: 8080, maxBodyBytes: 20 * 1024 * 1024, shutdownGraceMs: 30_000 });
    expect(config.databasePath).toBe("data/parrotrouter.db");
    expect(config.startingCreditsNanoUsd).toBe(5_000_000_000);
    expect(config.testKeys).toBe("simulate");
    expect(config.models.m!.maxOutputTokens).toBe(4096);
    expect(config.models.m!.routes).toEqual([{ provider: "sim", model: "m", weight: 1 }]);
    // A provider waits 60 s for the first byte and 120 s between chunks unless told otherwise.
    expect(config.providers.sim!.first_byte_timeout_ms).toBe(60_000);
    expect(config.providers.sim!.idle_timeout_ms).toBe(120_000);
  });

  test("expands ${VAR} and ${VAR:-default}, numbers stay numbers", () => {
    const { config } = parseConfig(
      `server: { port: "\${PORT:-9090}", host: "\${HOST:-127.0.0.1}" }
providers:
  openai: { type: openai, api_key: "\${OPENAI_API_KEY}" }
models:
  gpt: { routes: [openai/gpt-4o], pricing: { input: 2.5, output: 10 } }`,
      "test.yaml",
      { OPENAI_API_KEY: "sk-abc", HOST: "10.1.2.3" },
    );
    expect(config.server.port).toBe(9090);
    expect(config.server.host).toBe("10.1.2.3");
    expect(config.providers.openai!.api_key).toBe("sk-abc");
    expect(config.models.gpt!.pricing).toEqual({ inputNanoPerMillion: 2_500_000_000, outputNanoPerMillion: 10_000_000_000, cachedInputNanoPerMillion: 2_500_000_000 });
  });

  test("an unset variable of a provider no model uses only warns", () => {
    const { warnings } = parseConfig(
      `${MINIMAL}
  # unused provider
`.replace("providers:\n", "providers:\n  openai: { type: openai, api_key: \"${OPENAI_API_KEY}\" }\n"),
      "test.yaml",
      {},
    );
    expect(warnings.join("\n")).toContain("providers.openai.api_key: environment variable OPENAI_API_KEY is not set");
  });
});

describe("config errors name the field path and what was expected", () => {
  test("a typo'd top-level field suggests the right one", () => {
    expect(problemsOf(MINIMAL.replace("models:", "modles:"))).toContain("modles: unknown field, did you mean models?");
  });

  test("a bad base_url says it expected a URL", () => {
    const problems = problemsOf(`
providers:
  openai: { type: openai-compatible, base_url: "not a url" }
models:
  m: { routes: [openai/x] }`);
    expect(problems).toContain("providers.openai.base_url: expected a URL (http:// or https://)");
  });

  test("wrong types, unset variables, unknown provider types and unknown route providers are all listed at once", () => {
    const problems = problemsOf(
      `
server: { port: "eighty" }
providers:
  sim: { type: mok }
  openai: { type: openai, api_key: "\${OPENAI_API_KEY}", base_url: 42 }
models:
  m: { routes: [nope/x, sim, openai/gpt-4o] }
  broken: { routes: "sim/x" }`,
    );
    expect(problems).toEqual([
      "server.port: expected an integer",
      "providers.openai.base_url: expected a string",
      "models.broken.routes: expected a list",
      "providers.openai.api_key: environment variable OPENAI_API_KEY is not set",
      "providers.sim.type: expected one of openai, openai-compatible, mock, anthropic, gemini, azure, did you mean mock?",
      'models.m.routes.0: unknown provider "nope"',
      'models.m.routes.1: expected "provider/model", got "sim"',
    ]);
  });

  test("an unset variable without a default, used by a model, is an error naming the field", () => {
    const problems = problemsOf(`
providers:
  openai: { type: openai, api_key: "\${OPENAI_API_KEY}" }
models:
  m: { routes: [openai/gpt-4o] }`);
    expect(problems).toContain("providers.openai.api_key: environment variable OPENAI_API_KEY is not set");
  });

  test("unknown fields inside a provider or model are errors", () => {
    const problems = problemsOf(`
providers:
  sim: { type: mock, api_kye: x }
models:
  m: { routes: [sim/m], pricing: { inputs: 1 } }`);
    expect(problems).toContain("providers.sim.api_kye: unknown field, did you mean api_key?");
    expect(problems).toContain("models.m.pricing.inputs: unknown field, did you mean input?");
  });
});

describe("the CLI with a bad config", () => {
  const dir = mkdtempSync(join(tmpdir(), "parrotrouter-config-"));
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, MINIMAL.replace("models:", "modles:"));
  const bun = process.execPath;

  test("serve exits with code 2 and lists the errors", () => {
    const result = Bun.spawnSync([bun, "src/main.ts", "serve", "--config", bad], { stderr: "pipe", stdout: "pipe" });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.toString()).toContain("modles: unknown field, did you mean models?");
    expect(result.stderr.toString()).toContain("models: required");
  });

  test("check-config exits 2 on a bad config and summarises a good one", () => {
    expect(Bun.spawnSync([bun, "src/main.ts", "check-config", "--config", bad], { stderr: "pipe" }).exitCode).toBe(2);
    const good = Bun.spawnSync([bun, "src/main.ts", "check-config", "--config", "config.example.yaml"], { stdout: "pipe", stderr: "pipe" });
    expect(good.exitCode).toBe(0);
    const out = good.stdout.toString();
    expect(out).toContain("is valid");
    expect(out).toContain("gpt-4o → mock/gpt-4o");
  });

  test("PARROTROUTER_CONFIG names the config when --config is absent", () => {
    const result = Bun.spawnSync([bun, "src/main.ts", "check-config"], { env: { ...process.env, PARROTROUTER_CONFIG: bad }, stderr: "pipe" });
    expect(result.exitCode).toBe(2);
    expect(result.stderr.toString()).toContain(bad);
  });
});
