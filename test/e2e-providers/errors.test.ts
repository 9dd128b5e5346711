// Upstream errors of Anthropic, Gemini and Azure reach the openai SDK as OpenAI-shaped errors
// with sensible statuses: the client's own mistakes keep their 4xx, upstream trouble is
// 502/503/429, and the provider's credentials are never the client's 401.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { ledgerState } from "../credits/support";
import { rejection, startProviderWorld, type ProviderWorld } from "./support";

let world: ProviderWorld;
beforeAll(async () => {
  world = await startProviderWorld();
});
afterAll(() => world.stop());

const ask = (model: string) => world.client.chat.completions.create({ model, messages: [{ role: "user", content: "Hi" }] });

describe("Anthropic", () => {
  test("529 overloaded_error → 503 upstream_unavailable (InternalServerError in the SDK)", async () => {
    world.fakes.anthropic.enqueue({ kind: "error", status: 529 });
    const error = await rejection(ask("claude-sonnet"));
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error.status).toBe(503);
    expect(error.code).toBe("upstream_unavailable");
    expect(error.type).toBe("upstream_error");
    expect(error.message).toContain("Overloaded");
  });

  test("429 rate_limit_error → 429 RateLimitError with the upstream's retry-after", async () => {
    world.fakes.anthropic.enqueue({ kind: "error", status: 429, headers: { "retry-after": "30" } });
    const error = await rejection(ask("claude-sonnet"));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.code).toBe("rate_limit_exceeded");
    expect(error.headers?.get("retry-after")).toBe("30");
  });

  test("400 invalid_request_error → 400 BadRequestError with Anthropic's message", async () => {
    world.fakes.anthropic.enqueue({ kind: "error", status: 400, message: "prompt is too long: 210000 tokens > 200000 maximum" });
    const error = await rejection(ask("claude-sonnet"));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.message).toContain("prompt is too long");
    expect(error.type).toBe("invalid_request_error");
  });

  test("500 api_error → 502 upstream_error", async () => {
    world.fakes.anthropic.enqueue({ kind: "error", status: 500 });
    const error = await rejection(ask("claude-sonnet"));
    expect(error.status).toBe(502);
    expect(error.code).toBe("upstream_error");
  });

  test("401 authentication_error (our provider key) → 502, never the client's 401", async () => {
    world.fakes.anthropic.enqueue({ kind: "error", status: 401, message: "invalid x-api-key" });
    const error = await rejection(ask("claude-sonnet"));
    expect(error).not.toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error.status).toBe(502);
  });

  test("an overloaded_error event before any content is an error response, not a broken stream", async () => {
    world.fakes.anthropic.enqueue({ kind: "stream", errorAfter: 0 });
    const error = await rejection(world.client.chat.completions.create({ model: "claude-sonnet", messages: [{ role: "user", content: "Hi" }], stream: true }));
    expect(error.status).toBe(503);
    expect(error.code).toBe("upstream_unavailable");
  });
});

describe("Gemini", () => {
  test("503 UNAVAILABLE → 503; 429 RESOURCE_EXHAUSTED → 429; 400 INVALID_ARGUMENT → 400 with Google's message", async () => {
    world.fakes.gemini.enqueue(
      { kind: "error", status: 503 },
      { kind: "error", status: 429, headers: { "retry-after": "20" } },
      { kind: "error", status: 400, message: "Request contains an invalid argument." },
    );
    const unavailable = await rejection(ask("gemini-flash"));
    expect(unavailable.status).toBe(503);
    const limited = await rejection(ask("gemini-flash"));
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited.headers?.get("retry-after")).toBe("20");
    const bad = await rejection(ask("gemini-flash"));
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.message).toContain("invalid argument");
  });
});

describe("Azure", () => {
  test("a content-filter 400 stays a 400 with Azure's message; a 429 stays a 429", async () => {
    world.fakes.azure.enqueue({ kind: "contentFilter" }, { kind: "error", status: 429, code: "429", headers: { "retry-after": "5" } });
    const filtered = await rejection(ask("azure-4o"));
    expect(filtered).toBeInstanceOf(OpenAI.BadRequestError);
    expect(filtered.message).toContain("content management policy");
    const limited = await rejection(ask("azure-4o"));
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited.headers?.get("retry-after")).toBe("5");
  });
});

test("after all these errors no hold is open and the balance equals its ledger", () => {
  expect(world.server.runtime.credits.openHolds()).toBe(0);
  const state = ledgerState(world.server, world.projectId);
  expect(state.balance).toBe(state.sum);
});
