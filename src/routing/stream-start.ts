// Where "the stream has started" is drawn: a stream result is handed to the client only once
// the upstream has produced content, so a failure before that (an Anthropic overloaded_error
// event, a dropped connection, silence past the idle timeout) can still fall back.

import type { ChatResult, StreamChunk } from "../providers/types";
import { UpstreamError } from "../shared/errors";

/** Chunks without content held back at most; past that the stream counts as started anyway. */
const MAX_HELD_CHUNKS = 32;

/**
 * Reads a stream up to its first content (text or tool-call arguments) or its end, and
 * returns a result that replays what was read. A failure on the way throws, retryable when
 * it is the upstream's fault (5xx, 429, timeout), as it would be before the first byte.
 */
export async function startStream(result: ChatResult): Promise<ChatResult> {
  if (result.kind !== "stream") return result;
  const iterator = result.chunks[Symbol.asyncIterator]();
  const held: StreamChunk[] = [];
  let ended = false;
  try {
    while (held.length < MAX_HELD_CHUNKS) {
      const next = await iterator.next();
      if (next.done) {
        ended = true;
        break;
      }
      held.push(next.value);
      if (next.value.textDelta !== "") break;
    }
  } catch (error) {
    iterator.return?.().catch(() => {});
    throw beforeStart(error);
  }
  return { kind: "stream", chunks: replay(held, ended, iterator) };
}

function beforeStart(error: unknown): unknown {
  if (!(error instanceof UpstreamError) || error.retryable || error.status < 500) return error;
  return new UpstreamError({ code: error.code, message: error.message, retryable: true, retryAfterMs: error.retryAfterMs, headers: error.headers });
}

/** The held chunks, then the rest of the upstream's iterator; no generator in between. */
function replay(held: StreamChunk[], ended: boolean, rest: AsyncIterator<StreamChunk>): AsyncIterable<StreamChunk> {
  let i = 0;
  const iterator: AsyncIterableIterator<StreamChunk> = {
    next: () => {
      if (i < held.length) return Promise.resolve({ done: false, value: held[i++]! });
      if (ended) return Promise.resolve({ done: true, value: undefined });
      return rest.next();
    },
    return: (value?: unknown) => rest.return?.(value) ?? Promise.resolve({ done: true, value: undefined }),
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
