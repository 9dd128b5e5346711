// Rotation: a new secret with the same settings; the old secret keeps working for
// grace_seconds, honoured to the second by the injectable clock, then it is invalid_api_key.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { ManualClock } from "../../src/shared/clock";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";
import { adminApi, chat, cliConfigFor, cliJson, expectError, INVALID_KEY, v1 } from "./support";

const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ clock });
});
afterAll(() => server.stop());

const works = async (secret: string) => (await v1(server, secret, "POST", "/chat/completions", chat())).status === 200;

describe("rotating through the admin API", () => {
  test("issues a new secret with the same settings and links the old record to it", async () => {
    const { project } = projectWithKey(server);
    const settings = {
      name: "billing-bot",
      scopes: ["inference"],
      models: ["cheap", "gpt-*"],
      spend_limit_usd: 2.5,
      limit_reset: "weekly",
      rpm: 100,
      tpm: 20_000,
      expires_at: new Date(clock.now() + 30 * 86_400_000).toISOString(),
    };
    const old = (await adminApi(server, "POST", "/keys", { project: project.name, ...settings })).body;
    const rotated = await adminApi(server, "POST", `/keys/${old.id}/rotate`, { grace_seconds: 60 });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ ...settings, project: project.name, env: "live", revoked_at: null, last_used_at: null });
    expect(rotated.body.key).toMatch(/^pr-live-[a-z0-9]{32}$/);
    expect(rotated.body.key).not.toBe(old.key);
    expect(rotated.body.id).not.toBe(old.id);
    expect(rotated.body.display).not.toBe(old.display);

    const oldRecord = (await adminApi(server, "GET", `/keys?project=${project.name}`)).body.data.find((k: { id: string }) => k.id === old.id);
    expect(oldRecord.revoked_at).toBe(new Date(clock.now() + 60_000).toISOString());
    expect(oldRecord.replaced_by).toBe(rotated.body.id);
    expect(JSON.stringify(oldRecord)).not.toContain(old.key);
  });

  test("a test key rotates into a test key", async () => {
    const { project } = projectWithKey(server);
    const old = server.createKey({ project: project.name, env: "test" });
    const rotated = await adminApi(server, "POST", `/keys/${old.id}/rotate`, {});
    expect(rotated.body.key).toMatch(/^pr-test-/);
    expect(rotated.body.env).toBe("test");
  });
});

describe("the grace period is honoured to the second", () => {
  test("the old secret works at grace − 1 s and is invalid_api_key at grace; the new one works throughout", async () => {
    const { key: old } = projectWithKey(server);
    expect(await works(old.key)).toBe(true); // cached before the rotation
    const start = clock.now();
    const fresh = (await adminApi(server, "POST", `/keys/${old.id}/rotate`, { grace_seconds: 90 })).body.key as string;

    clock.set(start + 89_000);
    expect(await works(old.key)).toBe(true);
    expect(await works(fresh)).toBe(true);
    clock.set(start + 89_999);
    expect(await works(old.key)).toBe(true);
    clock.set(start + 90_000);
    const refused = await v1(server, old.key, "POST", "/chat/completions", chat());
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual(INVALID_KEY);
    expect(await works(fresh)).toBe(true);
  });

  test("grace 0, or no body at all, makes the old secret invalid at once", async () => {
    for (const body of [{ grace_seconds: 0 }, undefined]) {
      const { key: old } = projectWithKey(server);
      expect(await works(old.key)).toBe(true);
      const fresh = (await adminApi(server, "POST", `/keys/${old.id}/rotate`, body)).body.key as string;
      expect((await v1(server, old.key, "GET", "/models")).body).toEqual(INVALID_KEY);
      expect(await works(fresh)).toBe(true);
    }
  });

  test("the openai SDK sees the rotated-away key as AuthenticationError", async () => {
    const { key: old } = projectWithKey(server);
    await adminApi(server, "POST", `/keys/${old.id}/rotate`, { grace_seconds: 1 });
    clock.advance(1000);
    const client = new OpenAI({ apiKey: old.key, baseURL: server.baseURL, maxRetries: 0 });
    expect(await client.chat.completions.create(chat()).then(() => null, (e: unknown) => e)).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  test("revoking the old key during its grace period ends the grace at once", async () => {
    const { key: old } = projectWithKey(server);
    const fresh = (await adminApi(server, "POST", `/keys/${old.id}/rotate`, { grace_seconds: 3600 })).body.key as string;
    expect(await works(old.key)).toBe(true);
    await adminApi(server, "POST", `/keys/${old.id}/revoke`);
    expect((await v1(server, old.key, "GET", "/models")).body).toEqual(INVALID_KEY);
    expect(await works(fresh)).toBe(true);
  });
});

describe("rotation errors", () => {
  test("an unknown key is 404; a revoked key cannot be rotated (400)", async () => {
    expectError(await adminApi(server, "POST", "/keys/key_nope/rotate", {}), 404, "not_found");
    const { key } = projectWithKey(server);
    await adminApi(server, "POST", `/keys/${key.id}/revoke`);
    expectError(await adminApi(server, "POST", `/keys/${key.id}/rotate`, {}), 400, "invalid_request", "invalid_request_error");
  });

  test("a negative or non-numeric grace_seconds, or an unknown field, is 400 and rotates nothing", async () => {
    const { key } = projectWithKey(server);
    for (const body of [{ grace_seconds: -1 }, { grace_seconds: "1h" }, { grace: 60 }]) {
      const result = await adminApi(server, "POST", `/keys/${key.id}/rotate`, body);
      expectError(result, 400, "invalid_request", "invalid_request_error");
    }
    expect(server.runtime.keys.find(key.id)!.revokedAt).toBeNull();
    expect(await works(key.key)).toBe(true);
  });

  // Regression: an unparsable body was read as {} and rotated with grace 0, cutting off the
  // old secret at once when the caller asked for an hour of grace.
  test("a malformed JSON body is 400 and the old secret keeps working", async () => {
    const { key } = projectWithKey(server);
    const result = await adminApi(server, "POST", `/keys/${key.id}/rotate`, '{"grace_seconds": 3600');
    expectError(result, 400, "invalid_json");
    expect(server.runtime.keys.find(key.id)!.revokedAt).toBeNull();
    expect(await works(key.key)).toBe(true);
  });
});

describe("rotating through the CLI while the server runs", () => {
  let live: TestServer;
  let config: string;
  beforeAll(async () => {
    live = await startTestServer(); // the system clock, as the CLI uses
    config = cliConfigFor(live);
  });
  afterAll(() => live.stop());

  test("--grace 0 cuts the cached old secret off at once; the new secret works", async () => {
    const { key: old } = projectWithKey(live);
    expect((await v1(live, old.key, "GET", "/models")).status).toBe(200);
    const rotated = cliJson(config, "keys", "rotate", old.id, "--grace", "0");
    expect(rotated.key).toMatch(/^pr-live-/);
    expect((await v1(live, old.key, "GET", "/models")).body).toEqual(INVALID_KEY);
    expect((await v1(live, rotated.key, "POST", "/chat/completions", chat())).status).toBe(200);
  });

  test("--grace 600 keeps the old secret working", async () => {
    const { key: old } = projectWithKey(live);
    const rotated = cliJson(config, "keys", "rotate", old.id, "--grace", "600");
    expect((await v1(live, old.key, "GET", "/models")).status).toBe(200);
    expect((await v1(live, rotated.key, "GET", "/models")).status).toBe(200);
    expect(rotated.revoked_at).toBeNull();
  });
});
