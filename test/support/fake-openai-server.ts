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
