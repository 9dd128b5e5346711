// startStream: a stream counts as started at its first content; what came before is replayed
// unchanged, and a failure before it is retryable when it is the upstream's fault.

import { describe, expect, test } from "bun:test";
import type { ChatResult, StreamChunk } from "../../src/providers/types";
import { startStream } from "../../src/routing/stream-start";
import { UpstreamError } from "../../src/shared/errors";

const chunk = (text: string): StreamChunk => ({ data: JSON.stringify({ text }), textDelta: text });

/** A stream of these chunks that throws `failure` after them, counting how far it was read. */
function upstream(chunks: StreamChunk[], failure?: Error) {
  const state = { read: 0 };
  async function* generate() {
    for (const c of chunks) {
      state.read++;
      yield c;
    }
    if (failure) throw failure;
  }
  return { state, result: { kind: "stream", chunks: generate() } as ChatResult };
}

async function drain(result: ChatResult): Promise<string[]> {
  if (result.kind !== "stream") throw new Error("expected a stream");
  const texts: string[] = [];
  for await (const c of result.chunks) texts.push(JSON.parse(c.data).text);
  return texts;
}

describe("startStream", () => {
  test("reads up to the first content only, then replays everything in order", async () => {
    const { state, result } = upstream([chunk(""), chunk("Hi"), chunk(" there")]);
    const started = await startStream(result);
    expect(state.read).toBe(2);
    expect(await drain(started)).toEqual(["", "Hi", " there"]);
  });

  test("a stream that ends without content is replayed whole", async () => {
    const { result } = upstream([chunk(""), chunk("")]);
    expect(await drain(await startStream(result))).toEqual(["", ""]);
  });

  test("an upstream failure before content becomes retryable; a request error does not", async () => {
    const stalled = new UpstreamError({ code: "upstream_timeout", message: "idle", retryable: false });
    await expect(startStream(upstream([chunk("")], stalled).result)).rejects.toMatchObject({ code: "upstream_timeout", retryable: true });
    const invalid = new UpstreamError({ code: "invalid_request", message: "bad", retryable: false });
    await expect(startStream(upstream([], invalid).result)).rejects.toMatchObject({ code: "invalid_request", retryable: false });
  });

  test("a failure after content is left to the stream: no fallback once it has started", async () => {
    const died = new UpstreamError({ code: "upstream_error", message: "died", retryable: false });
    const started = await startStream(upstream([chunk("Hi")], died).result);
    await expect(drain(started)).rejects.toBe(died);
  });

  test("JSON answers pass through untouched", async () => {
    const json: ChatResult = { kind: "json", body: {}, usage: null, model: "m" };
    expect(await startStream(json)).toBe(json);
  });
});
