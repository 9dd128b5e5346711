// last_used_at is kept up to date in memory (KeyCache.touch) and written in batches
// (flushLastUsed), so the hot path does no database write per request just to note a use.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/shared/clock";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";
import { adminApi, v1 } from "./support";

const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ clock });
});
afterAll(() => server.stop());

const iso = (ms: number) => new Date(ms).toISOString();
/** Rows this server's connection has changed since it opened. */
const rowsWritten = () => (server.runtime.database.sqlite.query("select total_changes() as n").get() as { n: number }).n;
const storedLastUsed = (id: string) => (server.runtime.database.sqlite.query("select last_used_at from api_keys where id = ?").get(id) as { last_used_at: number | null }).last_used_at;
const listedLastUsed = async (id: string) => (await adminApi(server, "GET", "/keys")).body.data.find((k: { id: string }) => k.id === id).last_used_at;

describe("last_used_at after a request", () => {
  test("the admin key list and /v1/key show the time of the last use at once", async () => {
    const { key } = projectWithKey(server);
    expect(await listedLastUsed(key.id)).toBeNull();
    clock.advance(1000);
    const usedAt = clock.now();
    expect((await v1(server, key.key, "GET", "/models")).status).toBe(200);
    expect(await listedLastUsed(key.id)).toBe(iso(usedAt));
    clock.advance(1000);
    expect((await v1(server, key.key, "GET", "/key")).body.data.last_used_at).toBe(iso(clock.now()));
    expect(await listedLastUsed(key.id)).toBe(iso(clock.now()));
  });

  test("a refused request (revoked key) is not a use", async () => {
    const { key } = projectWithKey(server);
    server.runtime.keys.revoke(key.id, clock.now());
    clock.advance(1000);
    expect((await v1(server, key.key, "GET", "/models")).status).toBe(401);
    expect(await listedLastUsed(key.id)).toBeNull();
  });
});

describe("the database row is written only on flush", () => {
  test("ten requests write nothing; flushLastUsed writes the latest time in one row per key", async () => {
    server.runtime.keyCache.flushLastUsed(); // start from nothing pending
    const { key: first } = projectWithKey(server);
    const { key: second } = projectWithKey(server);
    const before = rowsWritten();
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      await v1(server, first.key, "GET", "/models");
      await v1(server, second.key, "GET", "/credits");
    }
    const lastUse = clock.now();
    expect(rowsWritten()).toBe(before);
    expect(storedLastUsed(first.id)).toBeNull();
    expect(storedLastUsed(second.id)).toBeNull();
    expect(await listedLastUsed(first.id)).toBe(iso(lastUse));

    server.runtime.keyCache.flushLastUsed();
    expect(rowsWritten()).toBe(before + 2);
    expect(storedLastUsed(first.id)).toBe(lastUse);
    expect(storedLastUsed(second.id)).toBe(lastUse);
    expect(await listedLastUsed(first.id)).toBe(iso(lastUse));

    server.runtime.keyCache.flushLastUsed(); // nothing new: nothing written
    expect(rowsWritten()).toBe(before + 2);
  });
});
