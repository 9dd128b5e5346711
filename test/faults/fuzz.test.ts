// Seeded fuzzing: a few thousand random and mutated JSON bodies and query strings on every
// endpoint. None gives a 5xx or a stack trace; no hold is open after any of them, and afterwards
// every balance equals its ledger. The seed is fixed so a failure replays exactly.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { ADMIN_TOKEN, projectWithKey, startTestServer, type TestServer } from "../support/server";
import { seededRandom, STACK_TRACE } from "./seeded-random";

let server: TestServer;
let key: string;
let keyId: string;

beforeAll(async () => {
  server = await startTestServer();
  const created = projectWithKey(server, 1, { spend_limit_usd: 0.5 });
  key = created.key.key;
  keyId = created.key.id;
});
afterAll(() => server.stop());

const rand = seededRandom(20261128);
const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)]!;
const STRINGS = ["", "gpt-4o", "cheap", "free-local", "text-embedding-3-small", "user", "assistant", "system", "tool", "\u0000", "💥", "a".repeat(300), "../../etc/passwd", "' OR 1=1 --", "%s%n", "pr-live-aaaa", "null", "NaN"];
const NUMBERS = [0, -1, 1, 2, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER, 2 ** 53 + 1, 4096, 1_000_000];

function value(depth: number): unknown {
  const kind = Math.floor(rand() * (depth > 3 ? 5 : 7));
  switch (kind) {
    case 0: return pick(STRINGS);
    case 1: return pick(NUMBERS);
    case 2: return rand() < 0.5;
    case 3: return null;
    case 4: return Math.floor(rand() * 1e6).toString(36);
    case 5: return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    default: return Object.fromEntries(Array.from({ length: Math.floor(rand() * 4) }, () => [pick([...STRINGS, "role", "content", "model", "type"]), value(depth + 1)]));
  }
}

const VALID_CHAT = { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], max_tokens: 16 };
const CHAT_FIELDS = ["model", "messages", "max_tokens", "max_completion_tokens", "n", "stop", "stream", "stream_options", "models", "tools", "temperature", "response_format"];

/** A valid body with a few fields replaced, removed or added at random. */
function mutated(base: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const body: Record<string, unknown> = structuredClone(base);
  const changes = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < changes; i++) {
    const field = pick(fields);
    const action = rand();
    if (action < 0.2) delete body[field];
    else if (action < 0.4 && field === "messages") body.messages = [{ role: pick(STRINGS), content: value(1) }];
    else body[field] = value(0);
  }
  return body;
}

function randomBody(): string {
  const style = rand();
  if (style < 0.7) return JSON.stringify(mutated(VALID_CHAT, CHAT_FIELDS));
  if (style < 0.85) return JSON.stringify(value(0));
  const text = JSON.stringify(mutated(VALID_CHAT, CHAT_FIELDS));
  return text.slice(0, Math.floor(rand() * text.length)); // truncated JSON
}

function randomQuery(): string {
  const params = new URLSearchParams();
  for (const name of ["group_by", "from", "to", "model", "key", "format", "project", "env"]) if (rand() < 0.4) params.set(name, String(value(3)));
  return params.toString();
}

interface Probe {
  method: string;
  path: string;
  body?: string;
  admin?: boolean;
}

function randomProbe(): Probe {
  const roll = rand();
  if (roll < 0.45) return { method: "POST", path: "/v1/chat/completions", body: randomBody() };
  if (roll < 0.55) return { method: "POST", path: "/v1/embeddings", body: JSON.stringify(mutated({ model: "text-embedding-3-small", input: "hello" }, ["model", "input", "dimensions", "encoding_format"])) };
  if (roll < 0.62) return { method: "GET", path: `/v1/models/${encodeURIComponent(String(value(2)))}` };
  if (roll < 0.7) return { method: "GET", path: `/v1/usage?${randomQuery()}` };
  if (roll < 0.74) return { method: "GET", path: pick(["/v1/key", "/v1/credits", "/v1/models"]) };
  if (roll < 0.8) return { method: "POST", path: "/admin/api/projects", body: JSON.stringify(mutated({ name: `fuzz-${Math.floor(rand() * 1e9)}`, credits_usd: 1 }, ["name", "credits_usd", "extra"])), admin: true };
  if (roll < 0.86) return { method: "POST", path: "/admin/api/keys", body: JSON.stringify(mutated({ project: "fuzz-target", scopes: ["inference"] }, ["project", "name", "env", "scopes", "models", "spend_limit_usd", "limit_reset", "rpm", "tpm", "expires_at"])), admin: true };
  if (roll < 0.9) return { method: "POST", path: `/admin/api/projects/${encodeURIComponent(pick(["fuzz-target", String(value(2))]))}/credits`, body: JSON.stringify(mutated({ amount_usd: 1 }, ["amount_usd", "note"])), admin: true };
  if (roll < 0.94) return { method: pick(["POST", "PATCH"]), path: `/admin/api/keys/${encodeURIComponent(pick([keyId, String(value(2))]))}/${pick(["rotate", "revoke", ""])}`, body: JSON.stringify(mutated({ grace_seconds: 5 }, ["grace_seconds", "rpm", "name"])), admin: true };
  return { method: "GET", path: `/admin/api/usage?${randomQuery()}`, admin: true };
}

test("3000 seeded fuzzed requests: no 5xx, no stack trace, no open hold, balances equal ledgers", async () => {
  server.createProject("fuzz-target", 1);
  const failures: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const probe = randomProbe();
    // Keep the key alive: fuzzed revokes/rotations would end the run early.
    if (probe.path.includes(keyId) && /revoke|rotate/.test(probe.path)) probe.path = probe.path.replace(keyId, "key_unknown");
    const response = await fetch(`${server.url}${probe.path}`, {
      method: probe.method,
      headers: { authorization: `Bearer ${probe.admin ? ADMIN_TOKEN : key}`, "content-type": "application/json" },
      body: probe.method === "GET" ? undefined : probe.body,
    });
    const text = await response.text();
    if (response.status >= 500 || STACK_TRACE.test(text)) failures.push(`${response.status} ${probe.method} ${probe.path} ${probe.body?.slice(0, 200)} → ${text.slice(0, 200)}`);
    // Checked after every probe, so a leaked hold names the request that leaked it.
    const openHolds = server.runtime.credits.openHolds();
    if (openHolds !== 0) failures.push(`${openHolds} hold(s) left open by ${response.status} ${probe.method} ${probe.path} ${probe.body?.slice(0, 200)}`);
    if (response.status >= 400 && response.headers.get("content-type")?.includes("json")) {
      const body = JSON.parse(text);
      if (typeof body?.error?.message !== "string" || typeof body?.error?.type !== "string" || typeof body?.error?.code !== "string") failures.push(`unshaped error ${probe.path}: ${text.slice(0, 200)}`);
    }
  }
  expect(failures).toEqual([]);
  expect(server.runtime.credits.openHolds()).toBe(0);
  const sqlite = server.runtime.database.sqlite;
  const mismatched = sqlite
    .query("select p.id from projects p where p.balance_nano_usd != (select coalesce(sum(amount_nano_usd), 0) from ledger_entries l where l.project_id = p.id)")
    .all();
  expect(mismatched).toEqual([]);
}, 120_000);
