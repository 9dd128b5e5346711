// Scopes: `read` opens models and the self-service routes, `inference` opens completions,
// embeddings and models; anything else is 403 insufficient_scope. No pr- key opens /admin.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";
import { adminApi, chat, expectError, v1 } from "./support";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

const requestCount = () => (server.runtime.database.sqlite.query("select count(*) as n from requests").get() as { n: number }).n;

const READ_ROUTES: [string, string][] = [
  ["GET", "/models"],
  ["GET", "/models/cheap"],
  ["GET", "/key"],
  ["GET", "/credits"],
  ["GET", "/usage"],
];
const INFERENCE_ROUTES: [string, string, unknown][] = [
  ["POST", "/chat/completions", chat()],
  ["POST", "/embeddings", { model: "text-embedding-3-small", input: "hello" }],
];

describe("a read-only key", () => {
  test("may call /v1/models, /v1/models/{id}, /v1/key, /v1/credits and /v1/usage", async () => {
    const { key } = projectWithKey(server, 5, { scopes: ["read"] });
    for (const [method, path] of READ_ROUTES) {
      const result = await v1(server, key.key, method, path);
      expect({ path, status: result.status }).toEqual({ path, status: 200 });
    }
  });

  test("gets 403 permission_error insufficient_scope on completions and embeddings, and nothing is recorded", async () => {
    const { key } = projectWithKey(server, 5, { scopes: ["read"] });
    const before = requestCount();
    for (const [method, path, body] of INFERENCE_ROUTES) {
      const result = await v1(server, key.key, method, path, body);
      expectError(result, 403, "insufficient_scope", "permission_error");
      expect(result.body.error.message).toContain("'inference'");
    }
    expect(requestCount()).toBe(before);
    expect(server.runtime.credits.openHolds()).toBe(0);
  });

  test("is refused before its body is read: junk from a read-only key is still 403, not 400", async () => {
    const { key } = projectWithKey(server, 5, { scopes: ["read"] });
    const response = await fetch(`${server.baseURL}/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key.key}` }, body: "{not json" });
    expect(response.status).toBe(403);
  });

  test("the openai SDK surfaces the refusal as PermissionDeniedError", async () => {
    const { key } = projectWithKey(server, 5, { scopes: ["read"] });
    const client = new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 });
    const error = await client.chat.completions.create(chat()).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((error as InstanceType<typeof OpenAI.PermissionDeniedError>).code).toBe("insufficient_scope");
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids.length).toBeGreaterThan(0);
  });
});

describe("an inference-only key", () => {
  test("may call completions, embeddings and the models list", async () => {
    const { key } = projectWithKey(server, 5, { scopes: ["inference"] });
    for (const [method, path, body] of INFERENCE_ROUTES) expect((await v1(server, key.key, method, path, body)).status).toBe(200);
    expect((await v1(server, key.key, "GET", "/models")).status).toBe(200);
    expect((await v1(server, key.key, "GET", "/models/cheap")).status).toBe(200);
  });

  test("gets 403 insufficient_scope on /v1/key, /v1/credits and /v1/usage", async () => {
    const { key } = projectWithKey(server, 5, { scopes: ["inference"] });
    for (const path of ["/key", "/credits", "/usage"]) {
      const result = await v1(server, key.key, "GET", path);
      expectError(result, 403, "insufficient_scope", "permission_error");
      expect(result.body.error.message).toContain("'read'");
    }
  });
});

describe("changing a key's scopes", () => {
  test("takes effect on the next request (the key cache is not stale)", async () => {
    const { key } = projectWithKey(server);
    expect((await v1(server, key.key, "POST", "/chat/completions", chat())).status).toBe(200);
    expect((await adminApi(server, "PATCH", `/keys/${key.id}`, { scopes: ["read"] })).status).toBe(200);
    expectError(await v1(server, key.key, "POST", "/chat/completions", chat()), 403, "insufficient_scope");
    expect((await adminApi(server, "PATCH", `/keys/${key.id}`, { scopes: ["inference", "read"] })).status).toBe(200);
    expect((await v1(server, key.key, "POST", "/chat/completions", chat())).status).toBe(200);
  });
});

describe("no pr- key ever reaches an admin route", () => {
  const adminRoutes = (keyId: string, projectId: string): [string, string, unknown?][] => [
    ["GET", "/admin/api/projects"],
    ["POST", "/admin/api/projects", { name: "sneaky" }],
    ["GET", `/admin/api/projects/${projectId}/credits`],
    ["POST", `/admin/api/projects/${projectId}/credits`, { amount_usd: 1000 }],
    ["POST", "/admin/api/keys", { project: projectId }],
    ["GET", "/admin/api/keys"],
    ["PATCH", `/admin/api/keys/${keyId}`, { rpm: null }],
    ["POST", `/admin/api/keys/${keyId}/revoke`],
    ["POST", `/admin/api/keys/${keyId}/rotate`],
    ["GET", "/admin/api/usage"],
  ];

  test("live and test keys with every scope get 401 on every admin API route, and nothing changes", async () => {
    const { project, key: live } = projectWithKey(server, 5, { scopes: ["inference", "read"] });
    const test = server.createKey({ project: project.name, env: "test" });
    const balanceBefore = server.runtime.ledger.balance(project.id);
    const keysBefore = server.runtime.keys.list().length;
    for (const secret of [live.key, test.key]) {
      for (const [method, path, body] of adminRoutes(live.id, project.id)) {
        const response = await fetch(`${server.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        expect({ path, method, status: response.status }).toEqual({ path, method, status: 401 });
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe("invalid_admin_token");
      }
    }
    expect(server.runtime.ledger.balance(project.id)).toBe(balanceBefore);
    expect(server.runtime.keys.list().length).toBe(keysBefore);
    expect(server.runtime.keys.find(live.id)!.revokedAt).toBeNull();
  });

  test("a pr- key opens no admin page, neither as a Bearer token nor as the login token", async () => {
    const { key } = projectWithKey(server);
    const page = await fetch(`${server.url}/admin`, { headers: { authorization: `Bearer ${key.key}` }, redirect: "manual" });
    expect(page.status).toBe(303);
    expect(page.headers.get("location")).toBe("/admin/login");
    const login = await fetch(`${server.url}/admin/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: key.key }),
      redirect: "manual",
    });
    expect(login.status).toBe(401);
    expect(login.headers.get("set-cookie")).toBeNull();
  });
});
