// Rate limits: per-key requests and tokens per minute (project defaults from config), counted
// in memory; 429 rate_limit_exceeded with retry-after and OpenAI's x-ratelimit-* headers; and
// failed authentications limited per client IP without slowing anyone else.

import { describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { generateKey } from "../../src/keys/format";
import { ApiError } from "../../src/shared/errors";
import { ManualClock } from "../../src/shared/clock";
import { DEFAULT_TEST_YAML, projectWithKey, serverForBlock, startTestServer, type TestServer } from "../support/server";
import { adminApi, chat, expectError, INVALID_KEY, v1, type Reply } from "./support";

const ratelimit = (result: Reply) => Object.fromEntries([...result.headers].filter(([name]) => name.startsWith("x-ratelimit-")));
const requestCount = (server: TestServer) => (server.runtime.database.sqlite.query("select count(*) as n from requests").get() as { n: number }).n;

describe("per-key requests per minute", () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
  const server = serverForBlock({ clock, yaml: `rate_limits: { rpm: 5 }\n${DEFAULT_TEST_YAML}` });

  test("rpm 2: two requests pass with OpenAI's headers, the third is 429 with retry-after; 30 s later one more passes", async () => {
    const { key } = projectWithKey(server, 5, { rpm: 2 });
    const first = await v1(server, key.key, "POST", "/chat/completions", chat());
    expect(first.status).toBe(200);
    expect(ratelimit(first)).toEqual({ "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "30s" });
    const second = await v1(server, key.key, "POST", "/chat/completions", chat());
    expect(ratelimit(second)).toMatchObject({ "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m0s" });

    const before = requestCount(server);
    const refused = await v1(server, key.key, "POST", "/chat/completions", chat());
    expectError(refused, 429, "rate_limit_exceeded");
    expect(refused.headers.get("retry-after")).toBe("30");
    expect(ratelimit(refused)).toMatchObject({ "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "0" });
    expect(requestCount(server)).toBe(before); // a refusal records and charges nothing
    expect(server.runtime.credits.openHolds()).toBe(0);

    clock.advance(29_000);
    expect((await v1(server, key.key, "POST", "/chat/completions", chat())).headers.get("retry-after")).toBe("1");
    clock.advance(1_000);
    expect((await v1(server, key.key, "POST", "/chat/completions", chat())).status).toBe(200);
  });

  test("the headers come on streamed answers and on embeddings too", async () => {
    const { key } = projectWithKey(server, 5, { rpm: 10 });
    const streamed = await v1(server, key.key, "POST", "/chat/completions", chat("cheap", { stream: true }));
    expect(streamed.status).toBe(200);
    expect(ratelimit(streamed)["x-ratelimit-limit-requests"]).toBe("10");
    const embedded = await v1(server, key.key, "POST", "/embeddings", { model: "text-embedding-3-small", input: "x" });
    expect(ratelimit(embedded)).toMatchObject({ "x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "8" });
  });

  test("a request admitted under the limit but refused for credits (402) still carries the headers", async () => {
    const { key } = projectWithKey(server, 0, { rpm: 4 });
    const refused = await v1(server, key.key, "POST", "/chat/completions", chat("gpt-4o"));
    expectError(refused, 402, "insufficient_credits");
    expect(ratelimit(refused)["x-ratelimit-limit-requests"]).toBe("4");
  });

  test("an admitted request whose upstream fails still carries the headers, its request counted", async () => {
    const failing = await startTestServer({
      clock,
      yaml: `routing: { retries: 0 }\nproviders:\n  refused: { type: openai-compatible, base_url: "http://127.0.0.1:1/v1" }\nmodels:\n  down: { routes: [refused/x] }\n`,
    });
    try {
      const { key } = projectWithKey(failing, 5, { rpm: 4 });
      const failed = await v1(failing, key.key, "POST", "/chat/completions", chat("down"));
      expect(failed.status).toBeGreaterThanOrEqual(502);
      expect(ratelimit(failed)).toMatchObject({ "x-ratelimit-limit-requests": "4", "x-ratelimit-remaining-requests": "3" });
    } finally {
      await failing.stop();
    }
  });

  test("each key has its own budget: exhausting one key leaves its sibling alone", async () => {
    const { project, key } = projectWithKey(server, 5, { rpm: 1 });
    const sibling = server.createKey({ project: project.name, rpm: 1 });
    expect((await v1(server, key.key, "POST", "/chat/completions", chat())).status).toBe(200);
    expect((await v1(server, key.key, "POST", "/chat/completions", chat())).status).toBe(429);
    expect((await v1(server, sibling.key, "POST", "/chat/completions", chat())).status).toBe(200);
  });

  test("the official openai SDK surfaces the 429 as RateLimitError", async () => {
    const { key } = projectWithKey(server, 5, { rpm: 1 });
    const client = new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 });
    await client.chat.completions.create(chat());
    const error = await client.chat.completions.create(chat()).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const rateError = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rateError.status).toBe(429);
    expect(rateError.code).toBe("rate_limit_exceeded");
    expect(rateError.headers.get("retry-after")).toBe("60");
  });
});

describe("per-key tokens per minute", () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
  const server = serverForBlock({ clock });

  test("a request reserves prompt + max_tokens; over tpm → 429 with the -tokens trio; a minute later it passes", async () => {
    const { key } = projectWithKey(server, 5, { tpm: 100 });
    const first = await v1(server, key.key, "POST", "/chat/completions", chat("cheap", { max_tokens: 60 }));
    expect(first.status).toBe(200);
    const headers = ratelimit(first);
    expect(headers["x-ratelimit-limit-tokens"]).toBe("100");
    expect(Number(headers["x-ratelimit-remaining-tokens"])).toBeLessThan(40);
    expect(headers["x-ratelimit-reset-tokens"]).toMatch(/^\d+s$/);
    expect(headers["x-ratelimit-limit-requests"]).toBeUndefined(); // no rpm set, none defaulted

    const refused = await v1(server, key.key, "POST", "/chat/completions", chat("cheap", { max_tokens: 60 }));
    expectError(refused, 429, "rate_limit_exceeded");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(ratelimit(refused)["x-ratelimit-limit-tokens"]).toBe("100");

    clock.advance(60_000);
    expect((await v1(server, key.key, "POST", "/chat/completions", chat("cheap", { max_tokens: 60 }))).status).toBe(200);
  });

  test("a key without limits and no project default gets no x-ratelimit headers", async () => {
    const { key } = projectWithKey(server);
    expect(ratelimit(await v1(server, key.key, "POST", "/chat/completions", chat()))).toEqual({});
  });
});

describe("project defaults from config and changes through the admin API", () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
  const server = serverForBlock({ clock, yaml: `rate_limits: { rpm: 3, tpm: 100000 }\n${DEFAULT_TEST_YAML}` });

  test("a key without limits of its own gets the config's rpm and tpm; /v1/key shows them", async () => {
    const { key } = projectWithKey(server);
    const result = await v1(server, key.key, "POST", "/chat/completions", chat());
    expect(ratelimit(result)).toMatchObject({ "x-ratelimit-limit-requests": "3", "x-ratelimit-limit-tokens": "100000" });
    expect((await v1(server, key.key, "GET", "/key")).body.data.rate_limit).toEqual({ requests_per_minute: 3, tokens_per_minute: 100000 });
    for (let i = 0; i < 2; i++) await v1(server, key.key, "POST", "/chat/completions", chat());
    expectError(await v1(server, key.key, "POST", "/chat/completions", chat()), 429, "rate_limit_exceeded");
  });

  test("a key's own limit wins over the default; PATCH changes it at once; PATCH null returns to the default", async () => {
    const { key } = projectWithKey(server, 5, { rpm: 50 });
    expect(ratelimit(await v1(server, key.key, "POST", "/chat/completions", chat()))["x-ratelimit-limit-requests"]).toBe("50");
    const patched = await adminApi(server, "PATCH", `/keys/${key.id}`, { rpm: 7, tpm: 9000 });
    expect(patched.body).toMatchObject({ rpm: 7, tpm: 9000 });
    expect(ratelimit(await v1(server, key.key, "POST", "/chat/completions", chat()))).toMatchObject({ "x-ratelimit-limit-requests": "7", "x-ratelimit-limit-tokens": "9000" });
    await adminApi(server, "PATCH", `/keys/${key.id}`, { rpm: null });
    expect(ratelimit(await v1(server, key.key, "POST", "/chat/completions", chat()))["x-ratelimit-limit-requests"]).toBe("3");
  });
});

describe("failed authentications per client IP", () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
  const server = serverForBlock({ clock });

  const guess = () => v1(server, generateKey("live"), "GET", "/models");

  test("20 failures a minute are 401; the 21st attempt is 429 with retry-after; the bucket refills over the minute", async () => {
    const { key: known } = projectWithKey(server);
    expect((await v1(server, known.key, "GET", "/models")).status).toBe(200); // used from this IP before the block

    for (let i = 0; i < 20; i++) expect((await guess()).body).toEqual(INVALID_KEY);
    const blocked = await guess();
    expectError(blocked, 429, "rate_limit_exceeded");
    expect(blocked.headers.get("retry-after")).toBe("3");

    // The client that keeps working from this IP is not slowed by its noisy neighbour…
    expect((await v1(server, known.key, "POST", "/chat/completions", chat())).status).toBe(200);
    // …but a key this IP has not used successfully waits too: otherwise 429-versus-200 would
    // tell a blocked guesser which of its candidate keys are real.
    const { key: unseen } = projectWithKey(server);
    expectError(await v1(server, unseen.key, "GET", "/models"), 429, "rate_limit_exceeded");
    expectError(await v1(server, null, "GET", "/models"), 429, "rate_limit_exceeded");

    clock.advance(3_000); // one attempt's worth refills
    expect((await guess()).status).toBe(401);
    expect((await guess()).status).toBe(429);
    clock.advance(60_000);
    expect((await v1(server, unseen.key, "GET", "/models")).status).toBe(200);
  });

  test("other IPs are not slowed while one IP is blocked", async () => {
    for (let i = 0; i < 25; i++) await guess(); // 127.0.0.1 is blocked again
    expect((await guess()).status).toBe(429);
    const { key } = projectWithKey(server);
    const now = clock.now();
    expect(server.runtime.auth.authenticate(key.key, () => "203.0.113.7", now).id).toBe(key.id);
    const other = (() => {
      try {
        server.runtime.auth.authenticate(generateKey("live"), () => "203.0.113.8", now);
      } catch (error) {
        return error as ApiError;
      }
    })();
    expect(other).toBeInstanceOf(ApiError);
    expect(other!.code).toBe("invalid_api_key");
  });

  test("a key last used from another IP does not open the block for this one", async () => {
    clock.advance(60_000);
    const { key } = projectWithKey(server);
    server.runtime.auth.authenticate(key.key, () => "203.0.113.9", clock.now());
    for (let i = 0; i < 21; i++) await guess();
    expectError(await v1(server, key.key, "GET", "/models"), 429, "rate_limit_exceeded");
  });
});

// Reading a request's client IP is a system call: it is read only when an IP may be blocked,
// on a failure, and once a second per key to remember where the key was last used from.
describe("the client IP is read only when needed", () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
  const server = serverForBlock({ clock });

  function counting(ip: string) {
    const asked = { count: 0 };
    return { asked, ip: () => (asked.count++, ip) };
  }
  const fail = (ip: () => string) => {
    try {
      server.runtime.auth.authenticate(generateKey("live"), ip, clock.now());
    } catch (error) {
      return error as ApiError;
    }
    throw new Error("a made-up key was accepted");
  };

  test("no failure within the last minute: a key's IP is read once a second, not per request", () => {
    const { key } = projectWithKey(server);
    const from = counting("198.51.100.1");
    for (let i = 0; i < 50; i++) server.runtime.auth.authenticate(key.key, from.ip, clock.now());
    expect(from.asked.count).toBe(1);
    clock.advance(1_000);
    server.runtime.auth.authenticate(key.key, from.ip, clock.now());
    expect(from.asked.count).toBe(2);
  });

  test("after a failure every request reads its IP, and blocks work; a quiet minute later they stop", () => {
    const { key } = projectWithKey(server);
    const app = counting("198.51.100.2");
    server.runtime.auth.authenticate(key.key, app.ip, clock.now()); // the app's last IP is remembered
    const guesser = counting("198.51.100.2"); // behind the same NAT
    for (let i = 0; i < 20; i++) expect(fail(guesser.ip).code).toBe("invalid_api_key");
    expect(fail(guesser.ip).code).toBe("rate_limit_exceeded");
    expect(guesser.asked.count).toBe(21);

    const before = app.asked.count;
    for (let i = 0; i < 5; i++) expect(server.runtime.auth.authenticate(key.key, app.ip, clock.now()).id).toBe(key.id);
    expect(app.asked.count - before).toBe(5);
    const elsewhere = counting("198.51.100.3");
    server.runtime.auth.authenticate(key.key, elsewhere.ip, clock.now());
    expect(elsewhere.asked.count).toBe(1);

    clock.advance(60_000);
    const quiet = counting("198.51.100.4");
    for (let i = 0; i < 5; i++) server.runtime.auth.authenticate(key.key, quiet.ip, clock.now());
    expect(quiet.asked.count).toBe(1); // the key's once-a-second refresh only
    // Nobody is blocked any more: the guesser's IP gets a plain 401 again.
    expect(fail(guesser.ip).code).toBe("invalid_api_key");
  });
});

// Regression: buckets were kept per key id, so rotating a key at its limit gave it a full
// budget, and during the grace period the old and new secrets had a full rpm/tpm each.
describe("a rotated key shares its predecessor's rate limits", () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
  const server = serverForBlock({ clock });
  const send = (secret: string, extra: Record<string, unknown> = {}) => v1(server, secret, "POST", "/chat/completions", chat("cheap", extra));

  test("rpm exhausted → rotate → the new secret is still 429 until the minute refills", async () => {
    const { key: old } = projectWithKey(server, 5, { rpm: 2 });
    for (let i = 0; i < 2; i++) expect((await send(old.key)).status).toBe(200);
    expectError(await send(old.key), 429, "rate_limit_exceeded");

    const fresh = (await adminApi(server, "POST", `/keys/${old.id}/rotate`, { grace_seconds: 3600 })).body.key as string;
    const refused = await send(fresh);
    expectError(refused, 429, "rate_limit_exceeded");
    expect(refused.headers.get("retry-after")).toBe("30");
    expect(ratelimit(refused)).toMatchObject({ "x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "0" });

    clock.advance(30_000); // one request's worth refills, for the lineage as a whole
    expect((await send(fresh)).status).toBe(200);
    expectError(await send(old.key), 429, "rate_limit_exceeded");
  });

  test("during the grace period the old and new secrets draw on one rpm and one tpm budget", async () => {
    const { key: old } = projectWithKey(server, 5, { rpm: 2 });
    expect((await send(old.key)).status).toBe(200);
    const fresh = (await adminApi(server, "POST", `/keys/${old.id}/rotate`, { grace_seconds: 3600 })).body.key as string;
    const second = await send(fresh);
    expect(ratelimit(second)["x-ratelimit-remaining-requests"]).toBe("0");
    expectError(await send(fresh), 429, "rate_limit_exceeded");
    expectError(await send(old.key), 429, "rate_limit_exceeded");

    const { key: tokenOld } = projectWithKey(server, 5, { tpm: 100 });
    expect((await send(tokenOld.key, { max_tokens: 60 })).status).toBe(200);
    const tokenFresh = (await adminApi(server, "POST", `/keys/${tokenOld.id}/rotate`, { grace_seconds: 3600 })).body.key as string;
    expectError(await send(tokenFresh, { max_tokens: 60 }), 429, "rate_limit_exceeded");
  });

  test("a limit changed on one key of the lineage keeps what was used instead of refilling the shared budget", async () => {
    const { key: old } = projectWithKey(server, 5, { rpm: 2 });
    for (let i = 0; i < 2; i++) expect((await send(old.key)).status).toBe(200);
    const rotated = (await adminApi(server, "POST", `/keys/${old.id}/rotate`, { grace_seconds: 3600 })).body;
    await adminApi(server, "PATCH", `/keys/${rotated.id}`, { rpm: 3 });
    const third = await send(rotated.key);
    expect(third.status).toBe(200); // the one request the higher limit adds
    expect(ratelimit(third)).toMatchObject({ "x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "0" });
    for (let i = 0; i < 3; i++) {
      // Alternating between the two limits must not refill anything.
      expectError(await send(old.key), 429, "rate_limit_exceeded");
      expectError(await send(rotated.key), 429, "rate_limit_exceeded");
    }
  });
});

describe("x-ratelimit-* headers on every response of a limited key", () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
  const server = serverForBlock({ clock });
  const reads = ["/models", "/models/cheap", "/key", "/credits", "/usage"];

  test("GET /v1/models, /v1/models/{id}, /v1/key, /v1/credits and /v1/usage report the budget and take nothing from it", async () => {
    const { key } = projectWithKey(server, 5, { rpm: 5, tpm: 1000 });
    expect(ratelimit(await v1(server, key.key, "POST", "/chat/completions", chat()))["x-ratelimit-remaining-requests"]).toBe("4");
    const seen: Record<string, string>[] = [];
    for (const path of reads) {
      const result = await v1(server, key.key, "GET", path);
      expect(result.status).toBe(200);
      seen.push(ratelimit(result));
    }
    expect(seen[0]).toMatchObject({ "x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "4", "x-ratelimit-limit-tokens": "1000" });
    expect(seen[0]!["x-ratelimit-reset-requests"]).toBe("12s");
    for (const headers of seen) expect(headers).toEqual(seen[0]!);
    expect(ratelimit(await v1(server, key.key, "POST", "/chat/completions", chat()))["x-ratelimit-remaining-requests"]).toBe("3");
  });

  test("the 400, 403 and 404 raised after authentication carry the headers too", async () => {
    const { project, key: inference } = projectWithKey(server, 5, { rpm: 5, scopes: ["inference"], models: ["cheap"] });
    const errors: [Reply, number, string][] = [
      [await v1(server, inference.key, "GET", "/models/no-such-model"), 404, "model_not_found"],
      [await v1(server, inference.key, "GET", "/models/gpt-4o"), 403, "model_not_allowed"],
      [await v1(server, inference.key, "GET", "/key"), 403, "insufficient_scope"],
      [await v1(server, inference.key, "GET", "/credits"), 403, "insufficient_scope"],
    ];
    const reader = server.createKey({ project: project.name, scopes: ["read"], rpm: 5 });
    errors.push([await v1(server, reader.key, "GET", "/usage?group_by=weekday"), 400, "invalid_request"]);
    for (const [result, status, code] of errors) {
      expectError(result, status, code);
      expect(ratelimit(result)).toMatchObject({ "x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "5" });
    }
  });

  test("chat and embeddings errors raised before admission carry the headers and spend nothing", async () => {
    const { key } = projectWithKey(server, 5, { rpm: 5, models: ["cheap", "text-embedding-3-small"] });
    const errors: [Reply, number, string][] = [
      [await v1(server, key.key, "POST", "/chat/completions", { model: "no-such-model", messages: [{ role: "user", content: "x" }] }), 404, "model_not_found"],
      [await v1(server, key.key, "POST", "/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "x" }] }), 403, "model_not_allowed"],
      [await v1(server, key.key, "POST", "/chat/completions", { model: "cheap" }), 400, "missing_required_parameter"],
      [await v1(server, key.key, "POST", "/embeddings", { model: "text-embedding-3-small" }), 400, "missing_required_parameter"],
    ];
    for (const [result, status, code] of errors) {
      expectError(result, status, code);
      expect(ratelimit(result)).toMatchObject({ "x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "5" });
    }
  });

  test("a key without limits gets none, and a 401 (no key known) gets none", async () => {
    const { key } = projectWithKey(server);
    for (const path of reads) expect(ratelimit(await v1(server, key.key, "GET", path))).toEqual({});
    expect(ratelimit(await v1(server, generateKey("live"), "GET", "/models"))).toEqual({});
  });

  test("a rotated key's reads report the budget it shares with its predecessor", async () => {
    const { key: old } = projectWithKey(server, 5, { rpm: 5 });
    await v1(server, old.key, "POST", "/chat/completions", chat());
    const fresh = (await adminApi(server, "POST", `/keys/${old.id}/rotate`, { grace_seconds: 60 })).body.key as string;
    expect(ratelimit(await v1(server, fresh, "GET", "/models"))["x-ratelimit-remaining-requests"]).toBe("4");
  });
});
