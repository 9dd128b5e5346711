// GET /v1/usage (a key's own project, read scope) and GET /admin/api/usage (every project):
// grouping by day, model and key over a date range, CSV, filters and their errors.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/shared/clock";
import { ADMIN_TOKEN, startTestServer, type TestServer } from "../support/server";
import { recordUsage } from "./support";

const clock = new ManualClock(Date.UTC(2026, 10, 10, 12));
let server: TestServer;
let a: { id: string; name: string };
let b: { id: string; name: string };
let a1: { id: string; key: string };
let a2: { id: string; key: string };
let aInference: { id: string; key: string };
let bKey: { id: string; key: string };

beforeAll(async () => {
  server = await startTestServer({ clock });
  a = server.createProject("usage-a", 50);
  b = server.createProject("usage-b", 50);
  a1 = server.createKey({ project: a.name, name: "a1" });
  a2 = server.createKey({ project: a.name, name: "a2-reader", scopes: ["read"] });
  aInference = server.createKey({ project: a.name, name: "a-inference", scopes: ["inference"] });
  bKey = server.createKey({ project: b.name, name: "b" });
  const record = (project: { id: string }, key: { id: string }, model: string, at: string, costNanoUsd: number, inputTokens = 10, outputTokens = 5) =>
    recordUsage(server.runtime, { projectId: project.id, keyId: key.id, model, at: Date.parse(at), costNanoUsd, inputTokens, outputTokens });
  record(a, a1, "gpt-4o", "2026-11-01T10:00:00Z", 1_000_000, 100, 50);
  record(a, a1, "gpt-4o", "2026-11-01T10:30:00Z", 1_000_000, 100, 50);
  record(a, a2, "cheap", "2026-11-02T15:00:00Z", 500);
  record(a, a1, "cheap", "2026-11-03T00:00:00Z", 700);
  record(b, bKey, "gpt-4o", "2026-11-02T09:00:00Z", 9_000_000_000);
});
afterAll(() => server.stop());

async function v1Usage(key: string, query = "") {
  const response = await fetch(`${server.url}/v1/usage${query}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: response.status, headers: response.headers, body: response.headers.get("content-type")?.includes("json") ? ((await response.json()) as any) : await response.text() };
}
async function adminUsage(query = "") {
  const response = await fetch(`${server.url}/admin/api/usage${query}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return { status: response.status, body: (await response.json()) as any };
}
const row = (group: string, name: string, requests: number, inputTokens: number, outputTokens: number, costUsd: number) => ({
  [group]: name,
  requests,
  input_tokens: inputTokens,
  output_tokens: outputTokens,
  cached_input_tokens: 0,
  cost_usd: costUsd,
});

describe("GET /v1/usage", () => {
  test("by day (the default), only the key's own project", async () => {
    const { status, body } = await v1Usage(a2.key);
    expect(status).toBe(200);
    expect(body).toEqual({
      object: "list",
      group_by: "day",
      data: [row("day", "2026-11-01", 2, 200, 100, 0.002), row("day", "2026-11-02", 1, 10, 5, 0.0000005), row("day", "2026-11-03", 1, 10, 5, 0.0000007)],
    });
    const other = await v1Usage(bKey.key);
    expect(other.body.data).toEqual([row("day", "2026-11-02", 1, 10, 5, 9)]);
  });

  test("by model over a date range; `to` as a date includes that whole day", async () => {
    const { body } = await v1Usage(a2.key, "?group_by=model&from=2026-11-01&to=2026-11-02");
    expect(body.data).toEqual([row("model", "cheap", 1, 10, 5, 0.0000005), row("model", "gpt-4o", 2, 200, 100, 0.002)]);
    const lastDay = await v1Usage(a2.key, "?group_by=model&from=2026-11-03&to=2026-11-03");
    expect(lastDay.body.data).toEqual([row("model", "cheap", 1, 10, 5, 0.0000007)]);
    const epochMs = await v1Usage(a2.key, `?group_by=model&from=${Date.parse("2026-11-02T00:00:00Z")}&to=${Date.parse("2026-11-03T00:00:00Z")}`);
    expect(epochMs.body.data).toEqual([row("model", "cheap", 1, 10, 5, 0.0000005)]);
  });

  test("by key, and filtered to one key", async () => {
    const { body } = await v1Usage(a2.key, "?group_by=key");
    expect(body.data).toEqual([row("key", a1.id, 3, 210, 105, 0.0020007), row("key", a2.id, 1, 10, 5, 0.0000005)].sort((x, y) => String(x.key).localeCompare(String(y.key))));
    const one = await v1Usage(a2.key, `?group_by=model&key=${a2.id}`);
    expect(one.body.data).toEqual([row("model", "cheap", 1, 10, 5, 0.0000005)]);
  });

  test("another project's key id as a filter yields nothing, never that project's usage", async () => {
    const { status, body } = await v1Usage(a2.key, `?group_by=key&key=${bKey.id}`);
    expect(status).toBe(200);
    expect(body.data).toEqual([]);
    const foreignProject = await v1Usage(a2.key, `?group_by=key&project=${b.id}`);
    expect(JSON.stringify(foreignProject.body)).not.toContain(bKey.id);
  });

  test("format=csv: a header line and one line per group", async () => {
    const { status, headers, body } = await v1Usage(a2.key, "?group_by=model&format=csv");
    expect(status).toBe(200);
    expect(headers.get("content-type")).toStartWith("text/csv");
    expect(headers.get("content-disposition")).toContain("usage.csv");
    expect(body).toBe("model,requests,input_tokens,output_tokens,cached_input_tokens,cost_usd\ncheap,2,20,10,0,0.0000012\ngpt-4o,2,200,100,0,0.002\n");
  });

  test("errors: read scope required, bad group_by or date is a 400, no key is a 401", async () => {
    const noScope = await v1Usage(aInference.key);
    expect(noScope.status).toBe(403);
    expect(noScope.body.error.code).toBe("insufficient_scope");
    const badGroup = await v1Usage(a2.key, "?group_by=hour");
    expect(badGroup.status).toBe(400);
    expect(badGroup.body.error.param).toBe("group_by");
    const badDate = await v1Usage(a2.key, "?from=yesterday");
    expect(badDate.status).toBe(400);
    expect(badDate.body.error.param).toBe("from");
    const anonymous = await fetch(`${server.url}/v1/usage`);
    expect(anonymous.status).toBe(401);
  });

  test("a real request through the API shows up in the key's usage", async () => {
    const response = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${a1.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "cheap", messages: [{ role: "user", content: "count my tokens" }] }),
    });
    expect(response.status).toBe(200);
    const { usage } = (await response.json()) as any;
    const { body } = await v1Usage(a1.key, `?group_by=model&key=${a1.id}&from=2026-11-10&to=2026-11-10`);
    expect(body.data).toEqual([{ model: "cheap", requests: 1, input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens, cached_input_tokens: 0, cost_usd: expect.any(Number) }]);
    expect(body.data[0].cost_usd).toBeCloseTo((usage.prompt_tokens + usage.completion_tokens) / 1_000_000, 12);
  });
});

describe("GET /admin/api/usage", () => {
  test("every project by default; one project by id or name", async () => {
    const all = await adminUsage("?group_by=model&to=2026-11-03");
    expect(all.body).toEqual({ group_by: "model", data: [row("model", "cheap", 2, 20, 10, 0.0000012), row("model", "gpt-4o", 3, 210, 105, 9.002)] });
    const byName = await adminUsage(`?group_by=day&project=${b.name}`);
    const byId = await adminUsage(`?group_by=day&project=${b.id}`);
    expect(byName.body.data).toEqual([row("day", "2026-11-02", 1, 10, 5, 9)]);
    expect(byId.body).toEqual(byName.body);
  });

  test("by key, filtered by key, model and date range", async () => {
    const byKey = await adminUsage(`?group_by=key&project=${a.id}&model=cheap&to=2026-11-03`);
    expect(byKey.body.data).toEqual([row("key", a1.id, 1, 10, 5, 0.0000007), row("key", a2.id, 1, 10, 5, 0.0000005)].sort((x, y) => String(x.key).localeCompare(String(y.key))));
    const oneKeyOneDay = await adminUsage(`?group_by=model&key=${a1.id}&from=2026-11-01&to=2026-11-01`);
    expect(oneKeyOneDay.body.data).toEqual([row("model", "gpt-4o", 2, 200, 100, 0.002)]);
  });

  test("format=csv, with the same filters as JSON", async () => {
    const response = await fetch(`${server.url}/admin/api/usage?group_by=model&to=2026-11-03&format=csv`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/csv");
    expect(response.headers.get("content-disposition")).toContain("usage.csv");
    expect(await response.text()).toBe("model,requests,input_tokens,output_tokens,cached_input_tokens,cost_usd\ncheap,2,20,10,0,0.0000012\ngpt-4o,3,210,105,0,9.002\n");
  });

  test("errors: bad group_by or date is a 400, an unknown project a 404", async () => {
    expect((await adminUsage("?group_by=week")).status).toBe(400);
    expect((await adminUsage("?to=soon")).body.error.param).toBe("to");
    expect((await adminUsage("?project=nope")).status).toBe(404);
  });

  test("projects list their key count (regression: the count was always 0)", async () => {
    const response = await fetch(`${server.url}/admin/api/projects`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const { data } = (await response.json()) as any;
    expect(data.find((p: any) => p.name === a.name).key_count).toBe(3);
    expect(data.find((p: any) => p.name === b.name).key_count).toBe(1);
  });
});
