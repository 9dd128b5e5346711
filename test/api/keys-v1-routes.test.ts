// Issue 4, route by route: every /v1 route gets the three kinds of tests — happy path, errors,
// security (no key, unknown, malformed, expired, revoked and rotated-away keys, the wrong
// scope, and another project's data). One table drives them all.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import type { Scope } from "../../src/keys/repository";
import { generateKey } from "../../src/keys/format";
import { ManualClock } from "../../src/shared/clock";
import { startTestServer, type TestServer } from "../support/server";
import { adminApi, chat, expectError, INVALID_KEY, v1, type Reply } from "../keys/support";

const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
let server: TestServer;

/** Secrets of the home project's keys, one per situation, and the other project's key. */
const keys = {} as Record<"full" | "readOnly" | "inferenceOnly" | "cheapOnly" | "expired" | "revoked" | "rotatedAway" | "other", { id: string; key: string; display: string }>;
let home: { id: string; name: string };
let other: { id: string; name: string };

beforeAll(async () => {
  server = await startTestServer({ clock });
  home = server.createProject("home", 5);
  other = server.createProject("other", 7);
  const create = (options: Record<string, unknown> = {}) => server.createKey({ project: home.name, ...options });
  keys.full = create({ name: "full" });
  keys.readOnly = create({ scopes: ["read"] });
  keys.inferenceOnly = create({ scopes: ["inference"] });
  keys.cheapOnly = create({ models: ["cheap"] });
  keys.expired = create({ expires_at: clock.now() + 1000 });
  keys.revoked = create();
  server.runtime.keys.revoke(keys.revoked.id, clock.now());
  keys.rotatedAway = create();
  await adminApi(server, "POST", `/keys/${keys.rotatedAway.id}/rotate`, { grace_seconds: 10 });
  keys.other = server.createKey({ project: other.name });
  // Some usage in both projects: 2 requests at home, 3 elsewhere.
  for (let i = 0; i < 2; i++) await v1(server, keys.full.key, "POST", "/chat/completions", chat());
  for (let i = 0; i < 3; i++) await v1(server, keys.other.key, "POST", "/chat/completions", chat());
  clock.advance(60_000); // past the expiry and the rotation grace
});
afterAll(() => server.stop());

const homeKeyIds = () => server.runtime.keys.list(home.id).map((k) => k.id);
const requestsOf = (column: "project_id" | "key_id", id: string) =>
  (server.runtime.database.sqlite.query(`select count(*) as n from requests where ${column} = ?`).get(id) as { n: number }).n;

interface RouteError {
  what: string;
  method?: string;
  path: string;
  /** A JSON body, or a string sent as it is. */
  body?: unknown;
  status: number;
  code: string;
}

interface Route {
  method: "GET" | "POST";
  path: string;
  body?: unknown;
  /** Scopes that open the route. */
  scopes: Scope[];
  /** What a successful answer looks like. */
  happy: (result: Reply) => void;
  /** Route-specific mistakes by a valid key. */
  errors: RouteError[];
}

const ROUTES: Record<string, Route> = {
  "chat/completions": {
    method: "POST",
    path: "/chat/completions",
    body: chat(),
    scopes: ["inference"],
    happy: ({ body }) => {
      expect(body.object).toBe("chat.completion");
      expect(body.choices[0].message.role).toBe("assistant");
      expect(body.usage.prompt_tokens).toBeGreaterThan(0);
    },
    errors: [
      { what: "invalid JSON", path: "/chat/completions", body: "{oops", status: 400, code: "invalid_json" },
      { what: "no messages", path: "/chat/completions", body: { model: "cheap" }, status: 400, code: "missing_required_parameter" },
      { what: "no model", path: "/chat/completions", body: { messages: [{ role: "user", content: "hi" }] }, status: 400, code: "missing_required_parameter" },
      { what: "an unknown model", path: "/chat/completions", body: chat("gpt-9"), status: 404, code: "model_not_found" },
      { what: "max_tokens 0", path: "/chat/completions", body: chat("cheap", { max_tokens: 0 }), status: 400, code: "invalid_request" },
    ],
  },
  embeddings: {
    method: "POST",
    path: "/embeddings",
    body: { model: "text-embedding-3-small", input: "a parrot" },
    scopes: ["inference"],
    happy: ({ body }) => {
      expect(body.object).toBe("list");
      expect(body.data[0].object).toBe("embedding");
      expect(body.usage.prompt_tokens).toBeGreaterThan(0);
    },
    errors: [
      { what: "no input", path: "/embeddings", body: { model: "text-embedding-3-small" }, status: 400, code: "missing_required_parameter" },
      { what: "an unknown model", path: "/embeddings", body: { model: "nope", input: "x" }, status: 404, code: "model_not_found" },
    ],
  },
  models: {
    method: "GET",
    path: "/models",
    scopes: ["inference", "read"],
    happy: ({ body }) => {
      expect(body.object).toBe("list");
      expect(body.data.map((m: { id: string }) => m.id).sort()).toEqual(["cheap", "free-local", "gpt-4o", "text-embedding-3-small"]);
    },
    errors: [{ what: "a wrong method", method: "DELETE", path: "/models", status: 404, code: "not_found" }],
  },
  "models/{id}": {
    method: "GET",
    path: "/models/cheap",
    scopes: ["inference", "read"],
    happy: ({ body }) => expect(body).toEqual({ id: "cheap", object: "model", created: expect.any(Number), owned_by: "parrotrouter" }),
    errors: [{ what: "an unknown model", path: "/models/gpt-9", status: 404, code: "model_not_found" }],
  },
  key: {
    method: "GET",
    path: "/key",
    scopes: ["read"],
    happy: ({ body }) => expect(body.data).toMatchObject({ label: keys.full.display, name: "full", env: "live", project: "home", scopes: ["inference", "read"] }),
    errors: [{ what: "a wrong method", method: "POST", path: "/key", body: {}, status: 404, code: "not_found" }],
  },
  credits: {
    method: "GET",
    path: "/credits",
    scopes: ["read"],
    happy: ({ body }) => {
      expect(body.data.total_credits).toBe(5);
      expect(body.data.total_usage).toBeGreaterThan(0);
    },
    errors: [{ what: "a wrong method", method: "POST", path: "/credits", body: {}, status: 404, code: "not_found" }],
  },
  usage: {
    method: "GET",
    path: "/usage?group_by=key",
    scopes: ["read"],
    happy: ({ body }) => {
      expect(body.object).toBe("list");
      expect(body.data.every((row: { key: string }) => homeKeyIds().includes(row.key))).toBe(true);
      expect(body.data.reduce((sum: number, row: { requests: number }) => sum + row.requests, 0)).toBe(requestsOf("project_id", home.id));
    },
    errors: [
      { what: "an unknown group_by", path: "/usage?group_by=planet", status: 400, code: "invalid_request" },
      { what: "an unreadable from", path: "/usage?from=yesterday", status: 400, code: "invalid_request" },
    ],
  },
};

const table = Object.entries(ROUTES);
const send = (secret: string | null, route: Route) => v1(server, secret, route.method, route.path, route.body);

// Failed authentications are limited per IP (20 a minute) and every test here comes from
// 127.0.0.1: let a minute pass before each test so one route's 401s never become another's 429s.
beforeEach(() => clock.advance(60_000));

describe("happy path", () => {
  test.each(table)("%s answers a key with every scope", async (_, route) => {
    const result = await send(keys.full.key, route);
    expect(result.status).toBe(200);
    route.happy(result);
  });

});

describe("errors", () => {
  test.each(table)("%s without a key → 401 missing_api_key, verbatim", async (_, route) => {
    const result = await send(null, route);
    expect(result.status).toBe(401);
    expect(result.body).toEqual({ error: { message: "No API key provided", type: "authentication_error", code: "missing_api_key", param: null } });
  });

  const routeErrors = table.flatMap(([name, route]) => route.errors.map((error) => [name, error.what, { method: route.method, ...error }] as const));
  test.each(routeErrors)("%s with %s → OpenAI-shaped error", async (_, __, error) => {
    const response = await fetch(`${server.baseURL}${error.path}`, {
      method: error.method,
      headers: { authorization: `Bearer ${keys.full.key}`, "content-type": "application/json" },
      body: error.body === undefined ? undefined : typeof error.body === "string" ? error.body : JSON.stringify(error.body),
    });
    const text = await response.text();
    expectError({ status: response.status, headers: response.headers, body: JSON.parse(text) }, error.status, error.code);
    expect(text).not.toContain("    at "); // no stack trace
  });
});

describe("security: keys that must not work", () => {
  test.each(table)("%s refuses unknown, malformed, expired, revoked and rotated-away keys with 401 invalid_api_key", async (_, route) => {
    const dead = {
      unknown: generateKey("live"),
      malformed: "sk-proj-not-a-parrot-key",
      "bad checksum": keys.full.key.slice(0, -1) + (keys.full.key.endsWith("a") ? "b" : "a"),
      expired: keys.expired.key,
      revoked: keys.revoked.key,
      "rotated after grace": keys.rotatedAway.key,
    };
    for (const [why, secret] of Object.entries(dead)) {
      const result = await send(secret, route);
      expect({ why, status: result.status, body: result.body }).toEqual({ why, status: 401, body: INVALID_KEY });
      expect(JSON.stringify(result.body)).not.toContain(secret);
    }
  });

  test.each(table)("%s refuses a key whose only scope does not open it with 403 insufficient_scope", async (_, route) => {
    const keyWithOnly = { read: keys.readOnly.key, inference: keys.inferenceOnly.key };
    for (const scope of ["read", "inference"] as const) {
      const result = await send(keyWithOnly[scope], route);
      if (route.scopes.includes(scope)) expect(result.status).toBe(200);
      else expectError(result, 403, "insufficient_scope", "permission_error");
    }
  });
});

describe("security: another project's data and models", () => {
  test("/v1/key describes the calling key only", async () => {
    const result = await v1(server, keys.other.key, "GET", "/key");
    expect(result.body.data).toMatchObject({ label: keys.other.display, project: "other" });
    expect(JSON.stringify(result.body)).not.toContain(keys.full.id);
  });

  test("/v1/credits shows the calling key's project only", async () => {
    const mine = (await v1(server, keys.full.key, "GET", "/credits")).body.data;
    const theirs = (await v1(server, keys.other.key, "GET", "/credits")).body.data;
    expect(mine.total_credits).toBe(5);
    expect(theirs.total_credits).toBe(7);
  });

  test("/v1/usage?key=<another project's key id> leaks nothing; project= is ignored", async () => {
    expect((await v1(server, keys.full.key, "GET", `/usage?key=${keys.other.id}`)).body.data).toEqual([]);
    expect((await v1(server, keys.full.key, "GET", `/usage?key=${keys.other.id}&group_by=model`)).body.data).toEqual([]);
    const byKey = (await v1(server, keys.full.key, "GET", `/usage?group_by=key&project=${other.id}`)).body.data;
    expect(byKey.length).toBeGreaterThan(0);
    for (const row of byKey) expect(homeKeyIds()).toContain(row.key);
    const total = (await v1(server, keys.full.key, "GET", "/usage?group_by=model")).body.data;
    expect(total.reduce((sum: number, row: { requests: number }) => sum + row.requests, 0)).toBe(requestsOf("project_id", home.id));
    expect(requestsOf("project_id", other.id)).toBeGreaterThanOrEqual(3); // there was something to leak
    const csv = await fetch(`${server.baseURL}/usage?format=csv&group_by=key`, { headers: { authorization: `Bearer ${keys.full.key}` } }).then((r) => r.text());
    expect(csv).not.toContain(keys.other.id);
  });

  test("/v1/usage?key=<own key id> filters to that key", async () => {
    const result = await v1(server, keys.full.key, "GET", `/usage?group_by=key&key=${keys.full.id}`);
    expect(result.body.data).toEqual([expect.objectContaining({ key: keys.full.id, requests: requestsOf("key_id", keys.full.id) })]);
    expect((await v1(server, keys.full.key, "GET", `/usage?key=${keys.readOnly.id}`)).body.data).toEqual([]);
  });

  test("a key's allow-list closes chat, embeddings and models/{id} for other models, and /v1/models hides them", async () => {
    const secret = keys.cheapOnly.key;
    expectError(await v1(server, secret, "POST", "/chat/completions", chat("gpt-4o")), 403, "model_not_allowed", "permission_error");
    expectError(await v1(server, secret, "POST", "/embeddings", { model: "text-embedding-3-small", input: "x" }), 403, "model_not_allowed");
    expectError(await v1(server, secret, "GET", "/models/gpt-4o"), 403, "model_not_allowed");
    expect((await v1(server, secret, "GET", "/models")).body.data.map((m: { id: string }) => m.id)).toEqual(["cheap"]);
    expect((await v1(server, secret, "POST", "/chat/completions", chat("cheap"))).status).toBe(200);
  });
});
