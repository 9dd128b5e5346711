// Helpers for the key tests: plain HTTP calls to /v1 and /admin/api that return status,
// headers and parsed body; the OpenAI error shape to expect; the CLI against a running server.

import { expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_TOKEN, DEFAULT_TEST_YAML, type TestServer } from "../support/server";

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

async function reply(response: Response): Promise<Reply> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (SSE or HTML): keep the text
  }
  return { status: response.status, headers: response.headers, body };
}

/** A /v1 call with `key` as the Bearer token (none when `key` is null). */
export async function v1(server: TestServer, key: string | null, method: string, path: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key !== null) headers.authorization = `Bearer ${key}`;
  return reply(await fetch(`${server.baseURL}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}

/** An admin API call with the admin token; `body` as a string is sent raw. */
export async function adminApi(server: TestServer, method: string, path: string, body?: unknown): Promise<Reply> {
  return reply(
    await fetch(`${server.url}/admin/api${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
}

/** Asserts an OpenAI-shaped error: `{error: {message, type, code, param}}` with this status and code. */
export function expectError(result: Reply, status: number, code: string, type?: string): void {
  expect({ status: result.status, code: result.body?.error?.code }).toEqual({ status, code });
  expect(typeof result.body.error.message).toBe("string");
  expect(Object.keys(result.body.error).sort()).toEqual(["code", "message", "param", "type"]);
  if (type) expect(result.body.error.type).toBe(type);
}

/** The seed's exact 401 for a revoked, expired, rotated-away, unknown or malformed key. */
export const INVALID_KEY = { error: { message: "Invalid API key provided", type: "authentication_error", code: "invalid_api_key", param: null } };

export const messages = [{ role: "user" as const, content: "Tell me about parrots" }];

/** A small chat request to `model`. */
export const chat = (model = "cheap", extra: Record<string, unknown> = {}) => ({ model, messages, max_tokens: 5, ...extra });

/**
 * Writes a config file for the CLI that points at the running server's database, so the CLI
 * changes the server's data from another process.
 */
export function cliConfigFor(server: TestServer, yaml = DEFAULT_TEST_YAML): string {
  const path = join(server.dir, "cli-config.yaml");
  writeFileSync(path, `database: { path: ${JSON.stringify(join(server.dir, "test.db"))} }\nlog: { level: error }\n${yaml}`);
  return path;
}

/** Runs the parrotrouter CLI with `--json` and returns its parsed output (throws on failure). */
export function cliJson(config: string, ...args: string[]): any {
  const result = runCli(config, ...args, "--json");
  if (result.code !== 0) throw new Error(`CLI failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

export function runCli(config: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync([process.execPath, "src/main.ts", ...args, "--config", config], { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}
