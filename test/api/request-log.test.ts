// One JSON log line per request, whatever its outcome, and an x-request-id on every answer:
// the id a client sent (when sane) or ours, the same in the header and in the log line.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { ADMIN_TOKEN, projectWithKey, startTestServer, type TestServer } from "../support/server";

let server: TestServer;
let key: string;

beforeAll(async () => {
  server = await startTestServer();
  key = projectWithKey(server).key.key;
});
afterAll(() => server.stop());

interface RequestLine {
  msg: string;
  request_id: string;
  client_request_id?: string;
  path?: string;
  endpoint?: string;
  status: number;
  key?: string;
  project?: string;
}

/** The "request" lines logged since `from`. */
function requestLines(from: number): RequestLine[] {
  return server.logs
    .slice(from)
    .map((line) => JSON.parse(line) as RequestLine)
    .filter((line) => line.msg === "request");
}

async function call(path: string, init: RequestInit & { headers?: Record<string, string> } = {}) {
  const from = server.logs.length;
  const response = await fetch(`${server.url}${path}`, init);
  await response.arrayBuffer();
  // Admitted requests log when they settle, just after the last byte.
  await Bun.sleep(20);
  return { response, lines: requestLines(from) };
}

const auth = () => ({ authorization: `Bearer ${key}` });
const chatBody = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });

describe("every answer has a request id and one log line", () => {
  test.each([
    ["GET /v1/models", "/v1/models", {}],
    ["GET /v1/models/{id}", "/v1/models/gpt-4o", {}],
    ["GET /v1/key", "/v1/key", {}],
    ["GET /v1/credits", "/v1/credits", {}],
    ["GET /v1/usage", "/v1/usage", {}],
  ])("%s: 200 with our id, logged with the key and project", async (_name, path) => {
    const { response, lines } = await call(path, { headers: auth() });
    expect(response.status).toBe(200);
    const id = response.headers.get("x-request-id");
    expect(id).toMatch(/^req_[0-9a-f]{32}$/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ request_id: id!, path, status: 200, project: expect.any(String), key: expect.stringMatching(/^pr-live-/) });
  });

  test("rejected before authentication (no key, bad key): a 401 with an id, one line, no key in it", async () => {
    for (const headers of [{}, { authorization: "Bearer pr-live-not-a-real-key" }] as Record<string, string>[]) {
      const { response, lines } = await call("/v1/chat/completions", { method: "POST", headers, body: chatBody });
      expect(response.status).toBe(401);
      expect(response.headers.get("x-request-id")).toMatch(/^req_/);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ request_id: response.headers.get("x-request-id")!, status: 401, path: "/v1/chat/completions" });
      expect(lines[0]!.key).toBeUndefined();
    }
  });

  test("rejected after authentication (unknown model 404, bad body 400), and an unknown path", async () => {
    const unknownModel = await call("/v1/chat/completions", { method: "POST", headers: auth(), body: JSON.stringify({ model: "nope", messages: [{ role: "user", content: "x" }] }) });
    expect(unknownModel.response.status).toBe(404);
    expect(unknownModel.lines).toEqual([expect.objectContaining({ status: 404, key: expect.stringMatching(/^pr-live-/) })]);
    const badBody = await call("/v1/chat/completions", { method: "POST", headers: auth(), body: "{not json" });
    expect(badBody.response.status).toBe(400);
    expect(badBody.lines).toEqual([expect.objectContaining({ status: 400 })]);
    const unknownPath = await call("/v1/nothing-here", { headers: auth() });
    expect(unknownPath.response.status).toBe(404);
    expect(unknownPath.response.headers.get("x-request-id")).toMatch(/^req_/);
    expect(unknownPath.lines).toEqual([expect.objectContaining({ status: 404, path: "/v1/nothing-here" })]);
  });

  test("an answered chat request, plain or streamed, is logged exactly once, at settlement, with its usage", async () => {
    for (const stream of [false, true]) {
      const { response, lines } = await call("/v1/chat/completions", {
        method: "POST",
        headers: { ...auth(), "x-request-id": "client-trace-42" },
        body: JSON.stringify({ model: "gpt-4o", stream, messages: [{ role: "user", content: "hi" }] }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("x-request-id")).toBe("client-trace-42");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ client_request_id: "client-trace-42", endpoint: "chat.completions", status: 200, input_tokens: expect.any(Number) });
    }
  });

  test("a client's sane x-request-id is echoed on account endpoints and errors; an insane one is replaced", async () => {
    const echoed = await call("/v1/credits", { headers: { ...auth(), "x-request-id": "trace-7" } });
    expect(echoed.response.headers.get("x-request-id")).toBe("trace-7");
    expect(echoed.lines[0]).toMatchObject({ client_request_id: "trace-7" });
    const error = await call("/v1/credits", { headers: { "x-request-id": "trace-8" } });
    expect(error.response.status).toBe(401);
    expect(error.response.headers.get("x-request-id")).toBe("trace-8");
    const insane = await call("/v1/credits", { headers: { ...auth(), "x-request-id": "has spaces and <tags>" } });
    expect(insane.response.headers.get("x-request-id")).toMatch(/^req_/);
  });

  test("the openai SDK sees the id on success (response headers) and on errors (APIError.requestID)", async () => {
    const client = new OpenAI({ apiKey: key, baseURL: server.baseURL, maxRetries: 0 });
    const { response } = await client.models.list().withResponse();
    expect(response.headers.get("x-request-id")).toMatch(/^req_/);
    const error = await client.models.retrieve("no-such-model").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).requestID).toMatch(/^req_/);
  });
});

describe("admin API calls", () => {
  test("each call writes one line with its method, path and status; a refused one too", async () => {
    const from = server.logs.length;
    const ok = await fetch(`${server.url}/admin/api/projects`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(ok.status).toBe(200);
    const refused = await fetch(`${server.url}/admin/api/projects`, { headers: { authorization: "Bearer wrong-token" } });
    expect(refused.status).toBe(401);
    const lines = server.logs.slice(from).map((line) => JSON.parse(line) as { msg: string; path?: string; status: number });
    expect(lines.filter((l) => l.msg === "admin request")).toEqual([expect.objectContaining({ method: "GET", path: "/admin/api/projects", status: 200 })]);
    expect(lines.filter((l) => l.msg === "request")).toEqual([expect.objectContaining({ path: "/admin/api/projects", status: 401 })]);
    expect(server.logs.slice(from).join("\n")).not.toContain("wrong-token");
  });
});
