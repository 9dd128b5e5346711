// The router on its own, with a fake `send`, a ManualClock and recorded waits: route order,
// retries with backoff and retry-after, fallback, cooldown and weighted draws, asserted exactly.

import { describe, expect, test } from "bun:test";
import type { ModelConfig } from "../../src/config/load";
import { MAX_BACKOFF_MS, retryDelayMs, Router, type RouteAttempt } from "../../src/routing/router";
import { ManualClock } from "../../src/shared/clock";
import { UpstreamError } from "../../src/shared/errors";
import { recordingSeams, seededRandom } from "./seams";

function model(name: string, targets: string[], options: { strategy?: "fallback" | "weighted"; weights?: number[] } = {}): ModelConfig {
  return {
    name,
    strategy: options.strategy ?? "fallback",
    routes: targets.map((target, i) => {
      const [provider, upstream] = target.split("/") as [string, string];
      return { provider, model: upstream, weight: options.weights?.[i] ?? 1 };
    }),
    pricing: { inputNanoPerMillion: 0, outputNanoPerMillion: 0, cachedInputNanoPerMillion: 0 },
    maxOutputTokens: 100,
  };
}

const serverError = () => new UpstreamError({ code: "upstream_error", message: "500", retryable: true });
const rateLimited = (retryAfterMs: number) => new UpstreamError({ code: "rate_limit_exceeded", message: "429", retryable: true, retryAfterMs });
const badRequest = () => new UpstreamError({ code: "invalid_request", message: "400", retryable: false });

function setup(options: { retries?: number; cooldownAfterFailures?: number; cooldownMs?: number; random?: () => number } = {}) {
  const clock = new ManualClock(1_000_000);
  const seams = recordingSeams({ random: options.random ?? (() => 0.5) });
  const router = new Router(
    { allowDirect: false, retries: options.retries ?? 0, cooldownMs: options.cooldownMs ?? 30_000, cooldownAfterFailures: options.cooldownAfterFailures ?? 3 },
    clock,
    seams,
  );
  return { clock, seams, router };
}

/** A `send` that answers per route from a script of errors; unscripted calls succeed. */
function scripted(script: Record<string, Error[]> = {}) {
  const calls: string[] = [];
  const send = async (attempt: RouteAttempt) => {
    const id = `${attempt.route.provider}/${attempt.route.model}`;
    calls.push(id);
    const error = script[id]?.shift();
    if (error) throw error;
    return id;
  };
  return { calls, send };
}

const signal = () => new AbortController().signal;
const ab = model("m", ["a/x", "b/y"]);

describe("fallback order", () => {
  test("routes are tried in order and the first success answers", async () => {
    const { router } = setup();
    const { calls, send } = scripted({ "a/x": [serverError()] });
    const { result, attempt } = await router.run([ab], signal(), send);
    expect(result).toBe("b/y");
    expect(attempt.route.provider).toBe("b");
    expect(calls).toEqual(["a/x", "b/y"]);
  });

  test("a non-retryable failure (the request is wrong) ends at once, without fallback", async () => {
    const { router } = setup();
    const { calls, send } = scripted({ "a/x": [badRequest()] });
    await expect(router.run([ab], signal(), send)).rejects.toMatchObject({ code: "invalid_request" });
    expect(calls).toEqual(["a/x"]);
  });

  test("an error that is not an upstream failure (a bug) is not retried either", async () => {
    const { router } = setup({ retries: 2 });
    const { calls, send } = scripted({ "a/x": [new TypeError("oops")] });
    await expect(router.run([ab], signal(), send)).rejects.toBeInstanceOf(TypeError);
    expect(calls).toEqual(["a/x"]);
  });

  test("when every route fails, the last route's error is the answer", async () => {
    const { router } = setup();
    const { send } = scripted({ "a/x": [serverError()], "b/y": [rateLimited(60_000)] });
    await expect(router.run([ab], signal(), send)).rejects.toMatchObject({ code: "rate_limit_exceeded" });
  });

  test("the client's models are tried in its order; a route two models share is tried once", async () => {
    const { router } = setup();
    const { calls, send } = scripted({ "a/x": [serverError()], "b/y": [serverError()], "c/z": [serverError()] });
    await expect(router.run([ab, model("n", ["b/y", "c/z"])], signal(), send)).rejects.toBeDefined();
    expect(calls).toEqual(["a/x", "b/y", "c/z"]);
  });
});

describe("retries with backoff", () => {
  test("each retry of a route waits twice as long, with jitter, before falling back", async () => {
    const { router, seams } = setup({ retries: 3, cooldownAfterFailures: 100 });
    const { calls, send } = scripted({ "a/x": [serverError(), serverError(), serverError(), serverError()] });
    await router.run([ab], signal(), send);
    // random() = 0.5 → jitter factor 1: 200, 400, 800 ms; no wait before the fallback itself.
    expect(seams.waits).toEqual([200, 400, 800]);
    expect(calls).toEqual(["a/x", "a/x", "a/x", "a/x", "b/y"]);
  });

  test("jitter spreads a wait over 0.5×–1.5× and the backoff is capped", () => {
    const error = serverError();
    expect(retryDelayMs(0, error, () => 0)).toBe(100);
    expect(retryDelayMs(0, error, () => 0.999999)).toBe(300);
    expect(retryDelayMs(2, error, () => 0)).toBe(400);
    expect(retryDelayMs(20, error, () => 0.5)).toBe(MAX_BACKOFF_MS);
  });

  test("a 429's retry-after is waited out exactly, then the same route is asked again", async () => {
    const { router, seams } = setup({ retries: 1 });
    const { calls, send } = scripted({ "a/x": [rateLimited(2_500)] });
    const { result } = await router.run([ab], signal(), send);
    expect(seams.waits).toEqual([2_500]);
    expect(calls).toEqual(["a/x", "a/x"]);
    expect(result).toBe("a/x");
  });

  test("a retry-after too long to wait moves on at once and keeps the route aside that long", async () => {
    const { router, seams, clock } = setup({ retries: 2, cooldownAfterFailures: 100 });
    const { calls, send } = scripted({ "a/x": [rateLimited(45_000)] });
    await router.run([ab], signal(), send);
    expect(seams.waits).toEqual([]);
    expect(calls).toEqual(["a/x", "b/y"]);
    expect(router.plan([ab]).map((a) => a.route.provider)).toEqual(["b"]);
    clock.advance(45_001);
    expect(router.plan([ab]).map((a) => a.route.provider)).toEqual(["a", "b"]);
  });

  test("a client that goes away during a wait stops the retries", async () => {
    const { router } = setup({ retries: 3 });
    const controller = new AbortController();
    const calls: string[] = [];
    const run = router.run([ab], controller.signal, async (attempt) => {
      calls.push(attempt.route.provider);
      controller.abort(new Error("client gone"));
      throw serverError();
    });
    await expect(run).rejects.toBeDefined();
    expect(calls).toEqual(["a"]);
  });
});

describe("cooldown", () => {
  test("consecutive failures cool a route down: skipped, then retried once the cooldown is over", async () => {
    const { router, clock } = setup({ cooldownAfterFailures: 2, cooldownMs: 30_000 });
    const failing = { "a/x": [serverError(), serverError()] };
    const { calls, send } = scripted(failing);
    await router.run([ab], signal(), send);
    await router.run([ab], signal(), send);
    expect(calls).toEqual(["a/x", "b/y", "a/x", "b/y"]);
    calls.length = 0;
    await router.run([ab], signal(), send);
    expect(calls).toEqual(["b/y"]);
    clock.advance(30_001);
    await router.run([ab], signal(), send);
    expect(calls).toEqual(["b/y", "a/x"]);
  });

  test("a route back from cooldown that fails again is cooled at once; a success clears it", async () => {
    const { router, clock } = setup({ cooldownAfterFailures: 2, cooldownMs: 10_000 });
    const a = ab.routes[0]!;
    router.health.recordFailure(a);
    router.health.recordFailure(a);
    expect(router.health.isCoolingDown(a)).toBe(true);
    clock.advance(10_001);
    router.health.recordFailure(a);
    expect(router.health.isCoolingDown(a)).toBe(true);
    clock.advance(10_001);
    router.health.recordSuccess(a);
    router.health.recordFailure(a);
    expect(router.health.isCoolingDown(a)).toBe(false);
  });

  test("failures of requests still in flight do not stretch a cooldown", () => {
    const { router, clock } = setup({ cooldownAfterFailures: 1, cooldownMs: 10_000 });
    const a = ab.routes[0]!;
    router.health.recordFailure(a);
    clock.advance(9_000);
    router.health.recordFailure(a);
    clock.advance(1_001);
    expect(router.health.isCoolingDown(a)).toBe(false);
  });

  test("when every route is cooling down, they are all tried rather than refusing", async () => {
    const { router } = setup({ cooldownAfterFailures: 1 });
    for (const route of ab.routes) router.health.recordFailure(route);
    const { calls, send } = scripted();
    await router.run([ab], signal(), send);
    expect(calls).toEqual(["a/x"]);
  });
});

describe("weighted strategy", () => {
  const weighted = model("w", ["a/x", "b/y"], { strategy: "weighted", weights: [3, 1] });

  test("the first route is drawn in proportion to the weights", () => {
    const { router } = setup({ random: seededRandom(42) });
    let first = 0;
    const draws = 10_000;
    for (let i = 0; i < draws; i++) if (router.plan([weighted])[0]!.route.provider === "a") first++;
    expect(first / draws).toBeGreaterThan(0.73);
    expect(first / draws).toBeLessThan(0.77);
  });

  test("the other routes stay behind the drawn one as fallbacks", () => {
    const { router } = setup({ random: () => 0.9 });
    expect(router.plan([weighted]).map((a) => a.route.provider)).toEqual(["b", "a"]);
  });

  test("fallback order ignores weights", () => {
    const { router } = setup({ random: () => 0.99 });
    expect(router.plan([model("f", ["a/x", "b/y"], { weights: [1, 100] })]).map((a) => a.route.provider)).toEqual(["a", "b"]);
  });
});
