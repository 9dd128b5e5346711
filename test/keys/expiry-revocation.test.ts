// Expired and revoked keys get the seed's 401 invalid_api_key at once, even when the server
// has them cached: expiry to the millisecond (injectable clock), revocation through the admin
// API and through the CLI writing the database from another process while the server runs.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/shared/clock";
import { projectWithKey, serverForBlock, startTestServer, type TestServer } from "../support/server";
import { adminApi, chat, cliConfigFor, cliJson, expectError, INVALID_KEY, runCli, v1 } from "./support";

describe("expiry", () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
  const server = serverForBlock({ clock });

  test("a key works until the millisecond before expires_at and is invalid_api_key from expires_at on", async () => {
    const { project } = projectWithKey(server);
    const expiresAt = clock.now() + 60_000;
    const created = await adminApi(server, "POST", "/keys", { project: project.name, expires_at: new Date(expiresAt).toISOString() });
    expect(created.body.expires_at).toBe(new Date(expiresAt).toISOString());
    const secret = created.body.key as string;

    expect((await v1(server, secret, "POST", "/chat/completions", chat())).status).toBe(200); // now cached
    clock.set(expiresAt - 1);
    expect((await v1(server, secret, "GET", "/key")).status).toBe(200);
    clock.set(expiresAt);
    for (const [method, path, body] of [["POST", "/chat/completions", chat()], ["GET", "/models"], ["GET", "/key"]] as const) {
      const result = await v1(server, secret, method, path, body);
      expect(result.status).toBe(401);
      expect(result.body).toEqual(INVALID_KEY);
    }
  });

  test("expires_at may be epoch milliseconds; /v1/key shows it", async () => {
    const { project } = projectWithKey(server);
    const expiresAt = clock.now() + 3_600_000;
    const created = await adminApi(server, "POST", "/keys", { project: project.name, expires_at: expiresAt });
    expect(created.status).toBe(200);
    expect((await v1(server, created.body.key, "GET", "/key")).body.data.expires_at).toBe(new Date(expiresAt).toISOString());
  });

  test("shortening a cached key's expiry through PATCH takes effect on the next request", async () => {
    const { key } = projectWithKey(server);
    expect((await v1(server, key.key, "GET", "/models")).status).toBe(200);
    const patched = await adminApi(server, "PATCH", `/keys/${key.id}`, { expires_at: new Date(clock.now() + 1000).toISOString() });
    expect(patched.status).toBe(200);
    expect((await v1(server, key.key, "GET", "/models")).status).toBe(200);
    clock.advance(1000);
    expect((await v1(server, key.key, "GET", "/models")).body).toEqual(INVALID_KEY);
  });

  test("an expiry in the past or an unreadable date is a 400, not a key that never worked", async () => {
    const { project } = projectWithKey(server);
    expectError(await adminApi(server, "POST", "/keys", { project: project.name, expires_at: new Date(clock.now() - 1).toISOString() }), 400, "invalid_request");
    expectError(await adminApi(server, "POST", "/keys", { project: project.name, expires_at: clock.now() }), 400, "invalid_request");
    const unreadable = await adminApi(server, "POST", "/keys", { project: project.name, expires_at: "next tuesday" });
    expectError(unreadable, 400, "invalid_request", "invalid_request_error");
    expect(unreadable.body.error.param).toBe("expires_at");
  });
});

describe("revocation through the admin API", () => {
  const server = serverForBlock();

  test("a cached key is invalid_api_key on the very next request, on every /v1 route", async () => {
    const { key } = projectWithKey(server);
    expect((await v1(server, key.key, "POST", "/chat/completions", chat())).status).toBe(200);
    const revoked = await adminApi(server, "POST", `/keys/${key.id}/revoke`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    expect(JSON.stringify(revoked.body)).not.toContain(key.key);
    const routes = [
      ["POST", "/chat/completions", chat()],
      ["POST", "/embeddings", { model: "text-embedding-3-small", input: "x" }],
      ["GET", "/models"],
      ["GET", "/models/cheap"],
      ["GET", "/key"],
      ["GET", "/credits"],
      ["GET", "/usage"],
    ] as const;
    for (const [method, path, body] of routes) {
      const result = await v1(server, key.key, method, path, body as unknown);
      expect({ path, status: result.status, body: result.body }).toEqual({ path, status: 401, body: INVALID_KEY });
    }
  });

  test("revoking twice keeps the first revocation time; an unknown id is 404", async () => {
    const { key } = projectWithKey(server);
    const first = await adminApi(server, "POST", `/keys/${key.id}/revoke`);
    await Bun.sleep(5);
    const second = await adminApi(server, "POST", `/keys/${key.id}/revoke`);
    expect(second.body.revoked_at).toBe(first.body.revoked_at);
    expectError(await adminApi(server, "POST", "/keys/key_nope/revoke"), 404, "not_found");
  });

  test("other keys of the same project keep working", async () => {
    const { project, key } = projectWithKey(server);
    const sibling = server.createKey({ project: project.name });
    await adminApi(server, "POST", `/keys/${key.id}/revoke`);
    expect((await v1(server, sibling.key, "POST", "/chat/completions", chat())).status).toBe(200);
  });
});

describe("revocation through the CLI while the server runs", () => {
  let server: TestServer;
  let config: string;
  beforeAll(async () => {
    server = await startTestServer(); // the system clock: the CLI stamps revoked_at with real time
    config = cliConfigFor(server);
  });
  afterAll(() => server.stop());

  test("the server notices the other process's write and refuses the cached key at once", async () => {
    const { key } = projectWithKey(server);
    expect((await v1(server, key.key, "POST", "/chat/completions", chat())).status).toBe(200); // now cached
    const revoked = cliJson(config, "keys", "revoke", key.id);
    expect(revoked.id).toBe(key.id);
    expect(revoked.revoked_at).not.toBeNull();
    const result = await v1(server, key.key, "POST", "/chat/completions", chat());
    expect(result.status).toBe(401);
    expect(result.body).toEqual(INVALID_KEY);
    expect((await adminApi(server, "GET", "/keys")).body.data.find((k: { id: string }) => k.id === key.id).revoked_at).toBe(revoked.revoked_at);
  });

  test("an unknown key id is a readable CLI error with exit code 1", () => {
    const result = runCli(config, "keys", "revoke", "key_nope");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("No key with id");
  });
});
