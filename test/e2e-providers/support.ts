// One ParrotRouter server in front of fake OpenAI, Anthropic, Gemini and Azure upstreams,
// with a model per provider, talked to through the official openai SDK.

import OpenAI from "openai";
import { startFakeAnthropic, type FakeAnthropic } from "../fakes/anthropic";
import { startFakeAzure, type FakeAzure } from "../fakes/azure";
import { startFakeGemini, type FakeGemini } from "../fakes/gemini";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";

export interface Upstreams {
  openai: FakeOpenAI;
  anthropic: FakeAnthropic;
  gemini: FakeGemini;
  azure: FakeAzure;
}

export interface ProviderWorld {
  fakes: Upstreams;
  server: TestServer;
  client: OpenAI;
  projectId: string;
  stop(): Promise<void>;
}

/**
 * Each chat model routes to one provider with its own price (USD per million tokens), so a
 * cost seen by the client tells which price was applied. Retries are off: these tests are
 * about translation, test/routing about retries.
 */
export async function startProviderWorld(extraYaml = ""): Promise<ProviderWorld> {
  const fakes: Upstreams = { openai: startFakeOpenAI(), anthropic: startFakeAnthropic(), gemini: startFakeGemini(), azure: startFakeAzure() };
  const server = await startTestServer({
    yaml: `
routing: { retries: 0, cooldown_after_failures: 1000 }
providers:
  openai: { type: openai, base_url: "${fakes.openai.url}", api_key: sk-openai-upstream }
  anthropic: { type: anthropic, base_url: "${fakes.anthropic.url}", api_key: "${fakes.anthropic.apiKey}" }
  gemini: { type: gemini, base_url: "${fakes.gemini.url}", api_key: "${fakes.gemini.apiKey}" }
  azure: { type: azure, base_url: "${fakes.azure.url}", api_key: "${fakes.azure.apiKey}" }
  sim: { type: mock }
models:
  gpt-4o:
    routes: [openai/gpt-4o]
    pricing: { input: 2.5, output: 10, cached_input: 1.25 }
  claude-sonnet:
    routes: [anthropic/claude-sonnet-4-5]
    pricing: { input: 3, output: 15, cached_input: 0.3 }
  gemini-flash:
    routes: [gemini/gemini-2.5-flash]
    pricing: { input: 0.3, output: 2.5, cached_input: 0.075 }
  azure-4o:
    routes: [azure/prod-4o]
    pricing: { input: 2.5, output: 10, cached_input: 1.25 }
  embed-openai:
    routes: [openai/text-embedding-3-small]
    pricing: { input: 0.02 }
  embed-gemini:
    routes: [gemini/text-embedding-004]
    pricing: { input: 0.15 }
  embed-azure:
    routes: [azure/embed-small]
    pricing: { input: 0.02 }
  embed-mock:
    routes: [sim/text-embedding-3-small]
    pricing: { input: 0.02 }
${extraYaml}`,
  });
  const { project, key } = projectWithKey(server, 5);
  return {
    fakes,
    server,
    client: new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 }),
    projectId: project.id,
    stop: async () => {
      await server.stop();
      await Promise.all(Object.values(fakes).map((fake) => fake.close()));
    },
  };
}

/** The request an upstream saw last. */
export function lastRequest(fake: { requests: { body: any; path: string; headers: Record<string, string> }[] }) {
  const request = fake.requests.at(-1);
  if (!request) throw new Error("the upstream received no request");
  return request;
}

/** Forgets what every fake has recorded. */
export function clearRequests(fakes: Upstreams): void {
  for (const fake of Object.values(fakes)) fake.requests.length = 0;
}

/** The rejection of a promise (the SDK's APIError), or a failure if it resolved. */
export async function rejection(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OpenAI.APIError) return error;
    throw error;
  }
  throw new Error("expected the request to fail");
}
