// An upstream that misbehaves at the TCP level, which an HTTP framework cannot fake:
// resets, truncated bodies, bodies dripped slowly, streams that stall, silence.

import { createServer, type Socket } from "node:net";

export type Fault = "reset" | "truncated-json" | "slow-body" | "stall-mid-stream" | "hang" | "garbage";

const completion = JSON.stringify({
  id: "chatcmpl-faulty",
  object: "chat.completion",
  created: 1730000000,
  model: "gpt-4o",
  choices: [{ index: 0, message: { role: "assistant", content: "slow but whole" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
});

export interface FaultyUpstream {
  url: string;
  /** The fault served to every request until changed. */
  fault: Fault;
  /** Sockets accepted and not yet closed. */
  openSockets(): number;
  close(): Promise<void>;
}

export async function startFaultyUpstream(initial: Fault): Promise<FaultyUpstream> {
  const sockets = new Set<Socket>();
  const state: { fault: Fault } = { fault: initial };
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let seen = "";
    socket.on("data", (data) => {
      seen += data.toString("latin1");
      const headerEnd = seen.indexOf("\r\n\r\n");
      if (headerEnd === -1) return;
      const length = Number(seen.match(/content-length: *(\d+)/i)?.[1] ?? 0);
      if (seen.length - headerEnd - 4 < length) return;
      seen = "";
      void respond(socket, state.fault);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get fault() {
      return state.fault;
    },
    set fault(value: Fault) {
      state.fault = value;
    },
    openSockets: () => sockets.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function respond(socket: Socket, fault: Fault): Promise<void> {
  const write = (text: string) => !socket.destroyed && socket.write(text);
  switch (fault) {
    case "reset":
      socket.resetAndDestroy();
      return;
    case "hang":
      return;
    case "garbage":
      write("this is not HTTP at all\r\n\r\n");
      socket.end();
      return;
    case "truncated-json":
      write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${completion.length}\r\n\r\n`);
      write(completion.slice(0, 40));
      socket.destroy();
      return;
    case "slow-body": {
      write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${completion.length}\r\nconnection: close\r\n\r\n`);
      for (let i = 0; i < completion.length; i += 40) {
        write(completion.slice(i, i + 40));
        await Bun.sleep(30);
      }
      socket.end();
      return;
    }
    case "stall-mid-stream": {
      write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
      const event = (content: string) => `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 1, model: "gpt-4o", choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
      for (const word of ["first ", "second "]) {
        const frame = event(word);
        write(`${Buffer.byteLength(frame).toString(16)}\r\n${frame}\r\n`);
        await Bun.sleep(20);
      }
      return; // …and then silence
    }
  }
}
