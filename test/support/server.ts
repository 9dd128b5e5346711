// Starts a real ParrotRouter server in-process on a free port, with its own temporary
// database and config, for tests that talk HTTP to it (official SDKs included).

import { afterAll, beforeAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adminPage } from "../../src/admin/page";
import { setUpAdminToken } from "../../src/admin/token";
import * as admin from "../../src/admin/service";
import { parseConfig } from "../../src/config/load";
import { createRuntime, type Runtime } from "../../src/runtime";
import { startServer, type RunningServer } from "../../src/server";
import type { RouterSeams } from "../../src/routing/router";
import type { Clock } from "../../src/shared/clock";
import { Logger } from "../../src/shared/logger";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

export interface TestServer {
  url: string;
  /** The OpenAI SDK's base URL: `${url}/v1`. */
  baseURL: string;
  runtime: Runtime;
  dir: string;
  /** Log lines the server wrote. */
  logs: string[];
  createProject(name: string, creditsUsd?: number): { id: string; name: string };
  createKey(options: Record<string, unknown> & { project: string }): { id: string; key: string; display: string };
  stop(): Promise<void>;
}

export interface TestServerOptions {
  /** YAML for `providers:` and `models:` (and anything else), replacing the default mock setup. */
  yaml?: string;
  clock?: Clock;
  /** The router's waits and random draws (see test/routing/seams.ts). */
  routing?: RouterSeams;
  logLevel?: "debug" | "info" | "warn" | "error";
  env?: Record<string, string>;
  /** How long settled rows wait for the background catch-up (see SettlementApplier). */
  settlementApplyDelayMs?: number;
}

export const DEFAULT_TEST_YAML = `
providers:
  mock: { type: mock }
models:
  gpt-4o:
    routes: [mock/gpt-4o]
    pricing: { input: 2.5, output: 10 }
  cheap:
    routes: [mock/cheap]
    pricing: { input: 1, output: 1 }
  free-local:
    routes: [mock/llama]
  text-embedding-3-small:
    routes: [mock/text-embedding-3-small]
    pricing: { input: 0.02 }
`;

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "parrotrouter-test-"));
  const yaml = `
database: { path: ${JSON.stringify(join(dir, "test.db"))} }
admin: { token: ${ADMIN_TOKEN} }
log: { level: ${options.logLevel ?? "debug"} }
${options.yaml ?? DEFAULT_TEST_YAML}`;
  const { config } = parseConfig(yaml, join(dir, "config.yaml"), { ...process.env, ...options.env });
  const logs: string[] = [];
  const runtime = createRuntime(config, { clock: options.clock, routing: options.routing, settlementApplyDelayMs: options.settlementApplyDelayMs, logger: new Logger(config.logLevel, (line) => logs.push(line)) });
  const verifier = setUpAdminToken(runtime, () => {});
  const page = adminPage(runtime, verifier);
  const server: RunningServer = startServer(runtime, { verifier, port: 0, host: "127.0.0.1", plugins: [page.plugin], sessionCheck: page.sessionCheck });
  return {
    url: server.url,
    baseURL: `${server.url}/v1`,
    runtime,
    dir,
    logs,
    createProject: (name, creditsUsd) => admin.createProject(runtime, { name, ...(creditsUsd === undefined ? {} : { credits_usd: creditsUsd }) }),
    createKey: (keyOptions) => admin.createKey(runtime, keyOptions),
    stop: async () => {
      await server.stop(true);
      runtime.close();
      rmSync(dir, { recursive: true, force: true });
      // Every in-process test server logs at debug level into memory; whatever traffic the
      // suite sent, no line may hold a pr- key or a provider secret.
      assertNoSecretsLogged(logs, runtime);
    },
  };
}

function assertNoSecretsLogged(logs: string[], runtime: Runtime): void {
  const secrets = Object.values(runtime.config.providers).flatMap((p) => (p.api_key ? [p.api_key] : []));
  for (const line of logs) {
    // The logger masks key-shaped text as a last defence; a mask in the output means some
    // code path tried to log a secret, which is just as wrong.
    if (/pr-(live|test)-[a-z0-9]{32}|\[redacted/.test(line) || secrets.some((secret) => line.includes(secret))) {
      throw new Error(`a secret reached the log: ${line.slice(0, 200)}`);
    }
  }
}

/**
 * The test server of a `describe` block: started before its tests and stopped after them. The
 * object returned is filled in by the block's `beforeAll`, so its tests use it as the server.
 */
export function serverForBlock(options: TestServerOptions = {}): TestServer {
  const server = {} as TestServer;
  beforeAll(async () => {
    Object.assign(server, await startTestServer(options));
  });
  afterAll(() => server.stop());
  return server;
}

/** A project with credits and a live key, the usual start of a test. */
export function projectWithKey(server: TestServer, creditsUsd = 5, keyOptions: Record<string, unknown> = {}) {
  const project = server.createProject(`p-${crypto.randomUUID().slice(0, 8)}`, creditsUsd);
  const key = server.createKey({ project: project.name, ...keyOptions });
  return { project, key };
}
