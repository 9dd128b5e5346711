// POST /v1/chat/completions and /v1/models through the official openai SDK against a running
// server answered by the mock provider; the seed's exact auth errors; request validation.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { mockReplyWords } from "../../src/providers/mock";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";

let server: TestServer;
let client: OpenAI;
let key: { id: string; key: string };

beforeAll(async () => {
  server = await startTestServer();
  key = projectWithKey(server).key;
  client = new OpenAI({ apiKey: key.key, baseURL: server.baseURL, maxRetries: 0 });
});
afterAll(() => server.stop());

const messages = [{ role: "user" as const, content: "Tell me about parrots" }];

function rawPost(path: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${server.baseURL}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json", ...headers },
    body,
  });
}

describe("chat completions with the mock provider", () => {
  test("non-streaming answer has the simulator's text, usage and cost", async () => {
    const completion = await client.chat.completions.create({ model: "gpt-4o", messages });
    const expected = mockReplyWords({ messages }).join("");
    expect(completion.object).toBe("chat.completion");
    expect(completion.choices[0]!.message.content).toBe(expected);
    expect(completion.choices[0]!.finish_reason).toBe("stop");
    expect(completion.usage!.completion_tokens).toBe(mockReplyWords({ messages }).length);
    expect(completion.usage!.prompt_tokens).toBeGreaterThan(0);
    expect((completion.usage as unknown as { cost: number }).cost).toBeGreaterThan(0);
  });

  test("streamed chunks join to exactly the non-streamed text", async () => {
    const stream = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true });
    let text = "";
    let chunks = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe("chat.completion.chunk");
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(mockReplyWords({ messages }).join(""));
    expect(chunks).toBeGreaterThan(10);
    expect(finish).toBe("stop");
  });

  test("max_tokens cuts the answer and says length", async () => {
    const completion = await client.chat.completions.create({ model: "gpt-4o", messages, max_tokens: 3 });
    expect(completion.choices[0]!.message.content).toBe(mockReplyWords({ messages }).slice(0, 3).join(""));
    expect(completion.choices[0]!.finish_reason).toBe("length");
    expect(completion.usage!.completion_tokens).toBe(3);
  });

  test("n gives n choices and stop cuts at the stop sequence", async () => {
    const completion = await client.chat.completions.create({ model: "gpt-4o", messages, n: 2, stop: ["simulator"] });
    expect(completion.choices).toHaveLength(2);
    for (const choice of completion.choices) {
      expect(choice.message.content).toBe("Hello from the ParrotRouter ");
      expect(choice.finish_reason).toBe("stop");
    }
  });

  test("streaming with include_usage delivers the usage chunk; without it, none", async () => {
    const withUsage = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true, stream_options: { include_usage: true } });
    let usage: unknown = null;
    for await (const chunk of withUsage) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ completion_tokens: mockReplyWords({ messages }).length });

    const without = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true });
    for await (const chunk of without) expect(chunk.usage ?? null).toBeNull();
  });

  test("models.list and models.retrieve use OpenAI's list format", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) {
      expect(model.object).toBe("model");
      ids.push(model.id);
    }
    expect(ids.sort()).toEqual(["cheap", "free-local", "gpt-4o", "text-embedding-3-small"]);
    const model = await client.models.retrieve("gpt-4o");
    expect(model.id).toBe("gpt-4o");
    const missing = await client.models.retrieve("nope").then(
      () => null,
      (error: unknown) => error,
    );
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
  });

  test("GET /health answers without a key", async () => {
    const response = await fetch(`${server.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });
});

describe("authentication errors are the seed's, verbatim", () => {
  const invalid = { message: "Invalid API key provided", type: "authentication_error", code: "invalid_api_key", param: null };

  async function authError(apiKey: string) {
    const bad = new OpenAI({ apiKey, baseURL: server.baseURL, maxRetries: 0 });
    try {
      await bad.chat.completions.create({ model: "gpt-4o", messages });
    } catch (error) {
      expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
      const apiError = error as InstanceType<typeof OpenAI.AuthenticationError>;
      expect(apiError.status).toBe(401);
      return apiError.error;
    }
    throw new Error("expected an authentication error");
  }

  test("no Authorization header → missing_api_key", async () => {
    const response = await fetch(`${server.baseURL}/chat/completions`, { method: "POST", body: JSON.stringify({ model: "gpt-4o", messages }) });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: { message: "No API key provided", type: "authentication_error", code: "missing_api_key", param: null } });
  });

  test("empty bearer → missing_api_key", async () => {
    const response = await fetch(`${server.baseURL}/models`, { headers: { authorization: "Bearer " } });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("missing_api_key");
  });

  describe("through the openai SDK", () => {
    const missing = { message: "No API key provided", type: "authentication_error", code: "missing_api_key", param: null };

    /** The SDK error for a request whose Authorization header is `authorization` (null: none sent), and the header the server got. */
    async function sdkAuthError(authorization: string | null) {
      const sent: (string | null)[] = [];
      const keyless = new OpenAI({
        apiKey: "unused", // the SDK refuses to start without one; the header below replaces it
        baseURL: server.baseURL,
        maxRetries: 0,
        defaultHeaders: { Authorization: authorization },
        fetch: async (url, init) => {
          sent.push(new Headers(init?.headers).get("authorization"));
          return fetch(url, init);
        },
      });
      try {
        await keyless.chat.completions.create({ model: "gpt-4o", messages });
      } catch (error) {
        expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
        const apiError = error as InstanceType<typeof OpenAI.AuthenticationError>;
        return { sent, status: apiError.status, code: apiError.code, type: apiError.type, body: apiError.error };
      }
      throw new Error("expected an authentication error");
    }

    test("no Authorization header → AuthenticationError 401 missing_api_key", async () => {
      expect(await sdkAuthError(null)).toEqual({ sent: [null], status: 401, code: "missing_api_key", type: "authentication_error", body: missing });
    });

    test("empty bearer → AuthenticationError 401 missing_api_key", async () => {
      const result = await sdkAuthError("Bearer ");
      expect(result.sent[0]?.trim()).toBe("Bearer");
      expect(result).toMatchObject({ status: 401, code: "missing_api_key", type: "authentication_error", body: missing });
    });
  });

  test("unknown key with a valid checksum → invalid_api_key", async () => {
    const { generateKey } = await import("../../src/keys/format");
    expect(await authError(generateKey("live"))).toEqual(invalid);
  });

  test("bad checksum → invalid_api_key", async () => {
    const last = key.key.at(-1) === "a" ? "b" : "a";
    expect(await authError(key.key.slice(0, -1) + last)).toEqual(invalid);
  });

  test("malformed key → invalid_api_key, and the key is never echoed", async () => {
    const junk = "sk-not-a-parrot-key-1234567890";
    const response = await fetch(`${server.baseURL}/models`, { headers: { authorization: `Bearer ${junk}` } });
    const text = await response.text();
    expect(response.status).toBe(401);
    expect(JSON.parse(text)).toEqual({ error: invalid });
    expect(text).not.toContain(junk);
  });

  test("revoked key → invalid_api_key at once", async () => {
    const { key: victim } = projectWithKey(server);
    const victimClient = new OpenAI({ apiKey: victim.key, baseURL: server.baseURL, maxRetries: 0 });
    await victimClient.chat.completions.create({ model: "gpt-4o", messages }); // now cached
    server.runtime.keys.revoke(victim.id, Date.now());
    expect(await authError(victim.key)).toEqual(invalid);
  });
});

describe("request errors are OpenAI-shaped", () => {
  test("invalid JSON → 400 invalid_request_error", async () => {
    const response = await rawPost("/chat/completions", "{not json");
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { type: string; code: string } };
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.code).toBe("invalid_json");
  });

  test("missing model → 400 with param model; missing messages → 400 with param messages", async () => {
    const noModel = await rawPost("/chat/completions", JSON.stringify({ messages }));
    expect(noModel.status).toBe(400);
    expect(((await noModel.json()) as { error: { param: string } }).error.param).toBe("model");
    const noMessages = await rawPost("/chat/completions", JSON.stringify({ model: "gpt-4o" }));
    expect(noMessages.status).toBe(400);
    expect(((await noMessages.json()) as { error: { param: string } }).error.param).toBe("messages");
  });

  test("unknown model → 404 model_not_found through the SDK", async () => {
    try {
      await client.chat.completions.create({ model: "gpt-9", messages });
      throw new Error("expected 404");
    } catch (error) {
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found");
    }
  });

  test("a body over server.max_body_mb → 413", async () => {
    const big = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "x".repeat(21 * 1024 * 1024) }] });
    const response = await rawPost("/chat/completions", big);
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("request_too_large");
  });

  test("unknown endpoint → OpenAI-shaped 404, no stack trace", async () => {
    const response = await fetch(`${server.baseURL}/nope`);
    expect(response.status).toBe(404);
    const text = await response.text();
    expect(JSON.parse(text).error.code).toBe("not_found");
    expect(text).not.toContain("at ");
  });

  // The inference paths are served from Bun's routing table; the rest of a path's shapes and
  // methods must still answer as the app's own routes do.
  test("inference paths: a trailing slash is served, another method is an OpenAI-shaped 404", async () => {
    const body = JSON.stringify({ model: "gpt-4o", messages });
    for (const path of ["/chat/completions/", "/chat/completions?trace=1"]) {
      const response = await rawPost(path, body);
      expect(response.status).toBe(200);
      expect(response.headers.get("x-request-id")).toStartWith("req_");
      expect(((await response.json()) as { object: string }).object).toBe("chat.completion");
    }
    const embedded = await rawPost("/embeddings/", JSON.stringify({ model: "text-embedding-3-small", input: "parrots" }));
    expect(embedded.status).toBe(200);
    for (const method of ["GET", "PUT", "DELETE"]) {
      for (const path of ["/chat/completions", "/embeddings"]) {
        const response = await fetch(`${server.baseURL}${path}`, { method, headers: { authorization: `Bearer ${key.key}` } });
        expect(response.status).toBe(404);
        expect(response.headers.get("x-request-id")).toStartWith("req_");
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe("not_found");
      }
    }
  });
});
