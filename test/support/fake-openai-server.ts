// The setup most billing tests share: a fake OpenAI upstream on a free port and an in-process
// server whose config points at it, started once per file, the fake's queue reset per test.

import { afterAll, beforeAll, beforeEach } from "bun:test";
import OpenAI from "openai";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { startTestServer, type TestServer, type TestServerOptions } from "./server";

export interface FakeOpenAIWorld {
  fake: FakeOpenAI;
  server: TestServer;
}

/** Registers the hooks; the returned object is filled in before the file's own `beforeAll`s run. */
export function withFakeOpenAI(yaml: (fakeUrl: string) => string, options: Omit<TestServerOptions, "yaml"> = {}): FakeOpenAIWorld {
  const world = {} as FakeOpenAIWorld;
  beforeAll(async () => {
    world.fake = startFakeOpenAI();
    world.server = await startTestServer({ ...options, yaml: yaml(world.fake.url) });
  });
  afterAll(async () => {
    await world.server?.stop();
    await world.fake?.close();
  });
  beforeEach(() => world.fake.reset());
  return world;
}

/** A fresh project with `creditsUsd`, a pr-live key for it, and the openai SDK client using it. */
export function projectClient(server: TestServer, prefix: string, creditsUsd = 1) {
  const project = server.createProject(`${prefix}-${crypto.randomUUID().slice(0, 8)}`, creditsUsd);
  const key = server.createKey({ project: project.name });
  return { project, key, client: new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 }) };
}

export interface PricedModelOptions {
  /** USD per million tokens of the `priced` model. */
  input?: number;
  output?: number;
  maxOutputTokens?: number;
  /** The `routing:` mapping (retries off by default, so a failure is seen as it happened). */
  routing?: string;
  /**
   * Adds provider `slow` (times out before its first byte, 0.3 s) and `refused` (nothing
   * listens) with a model on each, `timeout` and `refused`, priced like `priced`, for the tests
   * of what a failed upstream call costs; and a cooldown that never trips, so each test sees
   * its own failure.
   */
  failingProviders?: boolean;
  /** More models, as YAML lines under `models:`. */
  extraModels?: string;
}

/** The `priced` model's default pricing ($10 per million tokens in and out) as the server holds it. */
export const PRICED_MODEL_PRICING = { inputNanoPerMillion: 10_000_000_000, outputNanoPerMillion: 10_000_000_000, cachedInputNanoPerMillion: 10_000_000_000 };

/** The billing tests' config: provider `up` at the fake upstream and a model `priced` on it. */
export function pricedModelConfig(fakeUrl: string, options: PricedModelOptions = {}): string {
  const { input = 10, output = 10, maxOutputTokens = 1000, failingProviders = false } = options;
  const routing = options.routing ?? (failingProviders ? "{ retries: 0, cooldown_after_failures: 1000 }" : "{ retries: 0 }");
  const failing = `
  slow: { type: openai, base_url: "${fakeUrl}", api_key: sk-up, first_byte_timeout_seconds: 0.3 }
  refused: { type: openai-compatible, base_url: "http://127.0.0.1:1/v1" }`;
  const failingModels = `
  timeout:
    routes: [slow/gpt-4o]
    pricing: { input: ${input}, output: ${output} }
  refused:
    routes: [refused/x]
    pricing: { input: ${input}, output: ${output} }`;
  return `
routing: ${routing}
providers:
  up: { type: openai, base_url: "${fakeUrl}", api_key: sk-up }${failingProviders ? failing : ""}
models:
  priced:
    routes: [up/gpt-4o]
    pricing: { input: ${input}, output: ${output} }
    max_output_tokens: ${maxOutputTokens}${failingProviders ? failingModels : ""}
${options.extraModels ?? ""}
`;
}
