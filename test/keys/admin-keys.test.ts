// The admin API and the CLI for keys: create with scopes, models, limits and expiry; list;
// update limits (PATCH); revoke; rotate. Bad input is a 400 in OpenAI's shape (the CLI: exit 1
// with the same message), and the secret is shown once, at creation, and never again.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../support/server";
import { adminApi, chat, cliConfigFor, cliJson, expectError, runCli, v1 } from "./support";

let server: TestServer;
let config: string;
let projectName: string;

beforeAll(async () => {
  server = await startTestServer(); // the system clock, shared with the CLI
  config = cliConfigFor(server);
  projectName = server.createProject("keys-admin", 5).name;
});
afterAll(() => server.stop());

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

describe("POST /admin/api/keys", () => {
  test("creates a key with every setting; the record follows DESIGN's shape plus the secret, once", async () => {
    const expiresAt = inAnHour();
    const created = await adminApi(server, "POST", "/keys", {
      project: projectName,
      name: "reporting",
      env: "test",
      scopes: ["read"],
      models: ["cheap", "gpt-*"],
      spend_limit_usd: 1.25,
      limit_reset: "monthly",
      rpm: 60,
      tpm: 10_000,
      expires_at: expiresAt,
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      project: projectName,
      name: "reporting",
      env: "test",
      scopes: ["read"],
      models: ["cheap", "gpt-*"],
      spend_limit_usd: 1.25,
      limit_reset: "monthly",
      rpm: 60,
      tpm: 10_000,
      expires_at: expiresAt,
      last_used_at: null,
      revoked_at: null,
    });
    for (const field of ["id", "display", "created_at", "key"]) expect(created.body[field]).toBeString();
    expect(created.body.key).toMatch(/^pr-test-[a-z0-9]{32}$/);
    expect(created.body.display).toBe(`${created.body.key.slice(0, 12)}…${created.body.key.slice(-4)}`);

    const info = (await v1(server, created.body.key, "GET", "/key")).body.data;
    expect(info).toMatchObject({ env: "test", scopes: ["read"], models: ["cheap", "gpt-*"], limit: 1.25, limit_reset: "monthly", rate_limit: { requests_per_minute: 60, tokens_per_minute: 10_000 } });
  });

  test("defaults: live, both scopes, every model, no limits, no expiry; duplicate scopes are folded", async () => {
    const created = (await adminApi(server, "POST", "/keys", { project: projectName })).body;
    expect(created).toMatchObject({ name: "default", env: "live", scopes: ["inference", "read"], models: null, spend_limit_usd: null, limit_reset: null, rpm: null, tpm: null, expires_at: null });
    expect((await adminApi(server, "POST", "/keys", { project: projectName, scopes: ["read", "read"] })).body.scopes).toEqual(["read"]);
  });

  test("the project may be named by id or by name; an unknown one is 404", async () => {
    const project = server.runtime.projects.find(projectName)!;
    expect((await adminApi(server, "POST", "/keys", { project: project.id })).body.project).toBe(projectName);
    expectError(await adminApi(server, "POST", "/keys", { project: "no-such-project" }), 404, "not_found");
  });

  const invalidCreates: [string, Record<string, unknown>, string][] = [
    ["no project", {}, "project"],
    ["an unknown field", { modles: ["gpt-4o"] }, "modles"],
    ["an unknown env", { env: "prod" }, "env"],
    ["no scopes", { scopes: [] }, "scopes"],
    ["an unknown scope", { scopes: ["admin"] }, "scopes.0"],
    ["models as a string", { models: "gpt-4o" }, "models"],
    ["an empty model glob", { models: [""] }, "models"],
    ["rpm 0", { rpm: 0 }, "rpm"],
    ["a fractional rpm", { rpm: 1.5 }, "rpm"],
    ["a negative tpm", { tpm: -1 }, "tpm"],
    ["a negative spend limit", { spend_limit_usd: -1 }, "spend_limit_usd"],
    ["an unknown limit_reset", { limit_reset: "hourly" }, "limit_reset"],
    ["an unreadable expiry", { expires_at: "soon" }, "expires_at"],
    ["an expiry in the past", { expires_at: "2001-01-01T00:00:00Z" }, "expires_at"],
  ];
  test.each(invalidCreates)("%s → 400 invalid_request_error naming the field, and no key", async (_, fields, param) => {
    const before = server.runtime.keys.list().length;
    const result = await adminApi(server, "POST", "/keys", { project: projectName, ...fields, ...(param === "project" ? { project: undefined } : {}) });
    expectError(result, 400, "invalid_request", "invalid_request_error");
    expect(result.body.error.param).toBe(param);
    expect(server.runtime.keys.list().length).toBe(before);
  });

  test("a body that is not a JSON object → 400", async () => {
    expectError(await adminApi(server, "POST", "/keys", "{nope"), 400, "invalid_json");
    expectError(await adminApi(server, "POST", "/keys", "[]"), 400, "invalid_request");
  });
});

describe("GET /admin/api/keys", () => {
  test("lists a project's keys (by id or name) without any secret; an unknown project is 404", async () => {
    const project = server.createProject("keys-list", 5);
    const a = (await adminApi(server, "POST", "/keys", { project: project.name, name: "a" })).body;
    const b = (await adminApi(server, "POST", "/keys", { project: project.id, name: "b" })).body;
    for (const filter of [project.name, project.id]) {
      const listed = await adminApi(server, "GET", `/keys?project=${filter}`);
      expect(listed.body.data.map((k: { name: string }) => k.name)).toEqual(["a", "b"]);
      expect(JSON.stringify(listed.body)).not.toContain(a.key);
      expect(JSON.stringify(listed.body)).not.toContain(b.key);
      for (const record of listed.body.data) expect(record.key).toBeUndefined();
    }
    const all = (await adminApi(server, "GET", "/keys")).body.data.map((k: { id: string }) => k.id);
    expect(all).toEqual(expect.arrayContaining([a.id, b.id]));
    expectError(await adminApi(server, "GET", "/keys?project=nope"), 404, "not_found");
  });
});

describe("PATCH /admin/api/keys/{id}", () => {
  test("changes name, scopes, models and limits; the change is effective on the next request", async () => {
    const created = (await adminApi(server, "POST", "/keys", { project: projectName })).body;
    expect((await v1(server, created.key, "POST", "/chat/completions", chat("gpt-4o"))).status).toBe(200);
    const patched = await adminApi(server, "PATCH", `/keys/${created.id}`, { name: "renamed", models: ["cheap"], spend_limit_usd: 0.5, limit_reset: "daily", rpm: 30, tpm: 3000 });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: created.id, name: "renamed", models: ["cheap"], spend_limit_usd: 0.5, limit_reset: "daily", rpm: 30, tpm: 3000, scopes: ["inference", "read"] });
    expect(patched.body.key).toBeUndefined();
    expectError(await v1(server, created.key, "POST", "/chat/completions", chat("gpt-4o")), 403, "model_not_allowed");
    expect((await v1(server, created.key, "POST", "/chat/completions", chat("cheap"))).headers.get("x-ratelimit-limit-requests")).toBe("30");
  });

  test("null clears a setting; fields left out stay as they were", async () => {
    const created = (await adminApi(server, "POST", "/keys", { project: projectName, models: ["cheap"], rpm: 5, tpm: 500, expires_at: inAnHour() })).body;
    const patched = (await adminApi(server, "PATCH", `/keys/${created.id}`, { models: null, rpm: null, expires_at: null })).body;
    expect(patched).toMatchObject({ models: null, rpm: null, tpm: 500, expires_at: null });
    expect((await v1(server, created.key, "POST", "/chat/completions", chat("gpt-4o"))).status).toBe(200);
  });

  const invalidPatches: [string, unknown, string][] = [
    ["env cannot change", { env: "test" }, "env"],
    ["project cannot change", { project: "other" }, "project"],
    ["no scopes", { scopes: [] }, "scopes"],
    ["rpm 0", { rpm: 0 }, "rpm"],
    ["a past expiry", { expires_at: "2001-01-01" }, "expires_at"],
  ];
  test.each(invalidPatches)("%s → 400 naming the field, and the key is unchanged", async (_, body, param) => {
    const created = (await adminApi(server, "POST", "/keys", { project: projectName, rpm: 9 })).body;
    const result = await adminApi(server, "PATCH", `/keys/${created.id}`, body);
    expectError(result, 400, "invalid_request", "invalid_request_error");
    expect(result.body.error.param).toBe(param);
    expect(server.runtime.keys.find(created.id)).toMatchObject({ env: "live", rpm: 9, scopes: ["inference", "read"], expiresAt: null });
  });

  test("an unknown key is 404; a body that is not JSON is 400", async () => {
    expectError(await adminApi(server, "PATCH", "/keys/key_nope", { rpm: 1 }), 404, "not_found");
    const created = (await adminApi(server, "POST", "/keys", { project: projectName })).body;
    expectError(await adminApi(server, "PATCH", `/keys/${created.id}`, "rpm=1"), 400, "invalid_json");
  });
});

describe("the CLI, against the running server's database", () => {
  test("keys create with scopes, models, limits and expiry gives a key the server honours at once", async () => {
    const expiresAt = inAnHour();
    const created = cliJson(config, "keys", "create", "--project", projectName, "--name", "cli", "--scope", "read", "--models", "cheap, gpt-*", "--spend-limit", "2", "--limit-reset", "weekly", "--rpm", "12", "--tpm", "3400", "--expires", expiresAt);
    expect(created).toMatchObject({ name: "cli", env: "live", scopes: ["read"], models: ["cheap", "gpt-*"], spend_limit_usd: 2, limit_reset: "weekly", rpm: 12, tpm: 3400, expires_at: expiresAt });
    expect(created.key).toMatch(/^pr-live-/);
    expect((await v1(server, created.key, "GET", "/key")).body.data.rate_limit).toEqual({ requests_per_minute: 12, tokens_per_minute: 3400 });
    expectError(await v1(server, created.key, "POST", "/chat/completions", chat()), 403, "insufficient_scope");
  });

  test("keys list shows the project's keys and never a secret", () => {
    const created = cliJson(config, "keys", "create", "--project", projectName, "--name", "listed");
    const listed = runCli(config, "keys", "list", "--project", projectName, "--json");
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(created.key);
    expect(JSON.parse(listed.stdout).data.map((k: { id: string }) => k.id)).toContain(created.id);
  });

  test("keys update changes limits and allow-lists ('none' clears one); the running server applies it at once", async () => {
    const created = cliJson(config, "keys", "create", "--project", projectName, "--rpm", "5", "--models", "cheap");
    expect((await v1(server, created.key, "POST", "/chat/completions", chat())).headers.get("x-ratelimit-limit-requests")).toBe("5");
    const updated = cliJson(config, "keys", "update", created.id, "--rpm", "40", "--tpm", "4000", "--models", "none", "--name", "widened");
    expect(updated).toMatchObject({ id: created.id, name: "widened", rpm: 40, tpm: 4000, models: null });
    expect(updated.key).toBeUndefined();
    const result = await v1(server, created.key, "POST", "/chat/completions", chat("gpt-4o"));
    expect(result.status).toBe(200);
    expect(result.headers.get("x-ratelimit-limit-requests")).toBe("40");
  });

  test("keys rotate --grace sets when the old secret stops", () => {
    const created = cliJson(config, "keys", "create", "--project", projectName);
    const before = Date.now();
    const rotated = cliJson(config, "keys", "rotate", created.id, "--grace", "30");
    const old = cliJson(config, "keys", "list", "--project", projectName).data.find((k: { id: string }) => k.id === created.id);
    expect(old.replaced_by).toBe(rotated.id);
    expect(Date.parse(old.revoked_at) - before).toBeGreaterThanOrEqual(30_000);
    expect(Date.parse(old.revoked_at) - before).toBeLessThan(40_000);
  });

  const invalidCli: [string, string[], string][] = [
    ["rpm 0", ["keys", "create", "--project", "keys-admin", "--rpm", "0"], "rpm"],
    ["a non-numeric tpm", ["keys", "create", "--project", "keys-admin", "--tpm", "lots"], "--tpm"],
    ["an unknown env", ["keys", "create", "--project", "keys-admin", "--env", "prod"], "env"],
    ["an unknown scope", ["keys", "create", "--project", "keys-admin", "--scope", "admin"], "scopes"],
    ["an unreadable expiry", ["keys", "create", "--project", "keys-admin", "--expires", "soon"], "expires_at"],
    ["an unknown project", ["keys", "create", "--project", "nope"], "nope"],
    ["update of an unknown key", ["keys", "update", "key_nope", "--rpm", "1"], "key_nope"],
    ["update with a bad limit", ["keys", "update", "key_nope", "--rpm=-3"], "rpm:"],
    ["rotate with a negative grace", ["keys", "rotate", "key_nope", "--grace=-1"], "grace_seconds"],
  ];
  test.each(invalidCli)("%s → exit 1 with a message naming it", (_, args, mention) => {
    const result = runCli(config, ...args);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(mention);
    expect(result.stdout).not.toMatch(/pr-(live|test)-/);
  });
});
