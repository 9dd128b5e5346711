// Bad clients: slowloris, slowly trickled bodies, oversize, deeply nested and invalid-UTF-8
// bodies. None gives a 5xx from ParrotRouter or a stack trace, none leaves a credit hold open,
// and other clients are served meanwhile.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { projectWithKey, startTestServer, type TestServer } from "../support/server";
import { eventually, ledgerState } from "../credits/support";

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

/** After every fault, so a leaked hold is pinned on the fault that leaked it. */
async function expectNoOpenHold() {
  await eventually(() => server.runtime.credits.openHolds() === 0, 2000).catch(() => {});
  expect(server.runtime.credits.openHolds()).toBe(0);
  const state = ledgerState(server, projectId);
  expect(state.balance).toBe(state.sum);
}

describe("bad bodies", () => {
  afterEach(expectNoOpenHold);

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

/** A raw HTTP/1.1 request whose body is written a few bytes at a time; `send` writes the body. */
function slowRequest(body: string, send: (socket: Socket, body: Buffer) => Promise<void>) {
  const bytes = Buffer.from(body);
  const socket = connect(Number(new URL(server.url).port), "127.0.0.1");
  socket.on("error", () => {});
  const received: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`);
  const done = send(socket, bytes);
  return {
    socket,
    /** The raw response once the server closed the connection (bounded by `ms`). */
    response: async (ms = 5000) => {
      await done;
      await Promise.race([closed, Bun.sleep(ms)]);
      socket.destroy();
      const text = Buffer.concat(received).toString("utf8");
      return { status: Number(text.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0), text };
    },
  };
}

/** Writes `bytes` in `pieces` pieces, `everyMs` apart (the whole body, or the first `upTo` of them). */
async function trickle(socket: Socket, bytes: Buffer, pieces: number, everyMs: number, upTo = pieces) {
  const size = Math.ceil(bytes.length / pieces);
  for (let i = 0; i < upTo && i * size < bytes.length; i++) {
    socket.write(bytes.subarray(i * size, (i + 1) * size));
    await Bun.sleep(everyMs);
  }
}

const chatBody = (stream: boolean) => JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "a body that arrives slowly" }], max_tokens: 16, stream });

describe("slow clients", () => {
  afterEach(expectNoOpenHold);

  for (const stream of [false, true]) {
    test(`a ${stream ? "streaming" : "JSON"} request whose body trickles in over ~0.8 s (correct content-length) is answered and charged once`, async () => {
      const unhandledBefore = server.logs.filter((line) => line.includes("unhandled error")).length;
      const balanceBefore = ledgerState(server, projectId).balance;
      const request = slowRequest(chatBody(stream), (socket, bytes) => trickle(socket, bytes, 20, 40));
      const { status, text } = await request.response();
      expect(status).toBe(200);
      expect(text).not.toMatch(/\bat \S+:\d+/);
      if (stream) expect(text).toContain("data: [DONE]");
      else expect(text).toContain('"choices"');
      await eventually(() => server.runtime.credits.openHolds() === 0);
      // Charged exactly once, for real output (not the held worst case left behind).
      expect(ledgerState(server, projectId).balance).toBeLessThan(balanceBefore);
      expect(server.logs.filter((line) => line.includes("unhandled error")).length).toBe(unhandledBefore);
    });
  }

  for (const ending of ["destroy", "half-close"] as const) {
    test(`a client that sends half its body slowly and then ${ending === "destroy" ? "goes away" : "half-closes"} leaves no hold, no charge and no 5xx`, async () => {
      const unhandledBefore = server.logs.filter((line) => line.includes("unhandled error")).length;
      const balanceBefore = ledgerState(server, projectId).balance;
      const request = slowRequest(chatBody(false), async (socket, bytes) => {
        await trickle(socket, bytes, 20, 30, 10);
        if (ending === "destroy") socket.destroy();
        else socket.end();
      });
      const { status, text } = await request.response(2000);
      // Nothing to answer a vanished client; a half-closed one may get a 4xx, never a 5xx.
      if (status !== 0) expect(status).toBeLessThan(500);
      expect(text).not.toMatch(/\bat \S+:\d+/);
      await eventually(() => server.runtime.credits.openHolds() === 0);
      expect(ledgerState(server, projectId).balance).toBe(balanceBefore);
      expect(server.logs.filter((line) => line.includes("unhandled error")).length).toBe(unhandledBefore);
      // And the server still serves.
      const after = await post(chatBody(false));
      expect(after.status).toBe(200);
      await after.text();
    });
  }

  test("a client that trickles its whole body and goes away at the last byte leaves no hold and no 5xx", async () => {
    const unhandledBefore = server.logs.filter((line) => line.includes("unhandled error")).length;
    for (const stream of [false, true]) {
      const request = slowRequest(chatBody(stream), async (socket, bytes) => {
        await trickle(socket, bytes, 10, 20);
        socket.destroy();
      });
      await request.response(1000);
      await eventually(() => server.runtime.credits.openHolds() === 0);
    }
    expect(server.logs.filter((line) => line.includes("unhandled error")).length).toBe(unhandledBefore);
  });

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
