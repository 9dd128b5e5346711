// Bad clients: slowloris, oversize, deeply nested and invalid-UTF-8 bodies. None gives a 5xx
// from ParrotRouter or a stack trace, and other clients are served meanwhile.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";
import { ledgerState } from "../credits/support";

let server: TestServer;
let key: string;
let projectId: string;

beforeAll(async () => {
  server = await startTestServer({ yaml: `server: { max_body_mb: 1 }\nproviders:\n  mock: { type: mock }\nmodels:\n  gpt-4o:\n    routes: [mock/gpt-4o]\n    pricing: { input: 1, output: 1 }\n` });
  const created = projectWithKey(server);
  key = created.key.key;
  projectId = created.project.id;
});
afterAll(() => server.stop());

const post = (body: NonNullable<RequestInit["body"]>, headers: Record<string, string> = {}) =>
  fetch(`${server.baseURL}/chat/completions`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers }, body });

async function expectClientError(response: Response, status: number) {
  const text = await response.text();
  expect(response.status).toBe(status);
  const body = JSON.parse(text);
  expect(body.error.type).toBeString();
  expect(text).not.toMatch(/\bat \S+:\d+/);
}

describe("bad bodies", () => {
  test("oversize with a content-length → 413", async () => {
    await expectClientError(await post("x".repeat(2 * 1024 * 1024)), 413);
  });

  test("oversize without a content-length (chunked) → 413", async () => {
    const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 40) controller.enqueue(chunk);
        else controller.close();
      },
    });
    await expectClientError(await post(body), 413);
  });

  test("deeply nested JSON → 400", async () => {
    const depth = 200_000;
    await expectClientError(await post("[".repeat(depth) + "]".repeat(depth)), 400);
    const nestedMessages = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: JSON.parse("[".repeat(500) + "]".repeat(500)) }] });
    const response = await post(nestedMessages);
    expect(response.status).toBeLessThan(500);
  });

  test("invalid UTF-8 → no 5xx", async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('{"model":"gpt-4o","messages":[{"role":"user","content":"'), 0xff, 0xfe, 0xc3, 0x28, ...new TextEncoder().encode('"}]}')]);
    const response = await post(bytes);
    expect(response.status).toBeLessThan(500);
    await response.text();
    const garbage = await post(new Uint8Array([0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xff]));
    await expectClientError(garbage, 400);
  });

  test("afterwards no hold is open and the balance equals its ledger", () => {
    expect(server.runtime.credits.openHolds()).toBe(0);
    const state = ledgerState(server, projectId);
    expect(state.balance).toBe(state.sum);
  });
});

describe("slow clients", () => {
  test("a slowloris client trickling its headers does not slow anyone else", async () => {
    const port = Number(new URL(server.url).port);
    const sockets = Array.from({ length: 20 }, () => connect(port, "127.0.0.1"));
    for (const socket of sockets) socket.on("error", () => {});
    const header = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ";
    try {
      // Bounded: 1.5 s of trickling, one byte per socket every 50 ms.
      let trickling = true;
      const trickle = (async () => {
        for (let i = 0; i < 30; i++) {
          for (const socket of sockets) socket.write(header[i % header.length]!);
          await Bun.sleep(50);
        }
        trickling = false;
      })();
      await Bun.sleep(100);
      for (let i = 0; i < 10; i++) {
        const response = await post(JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "still here?" }] }));
        expect(response.status).toBe(200);
        await response.text();
      }
      // All ten normal requests were answered while the slow sockets were still trickling.
      expect(trickling).toBe(true);
      await trickle;
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});
