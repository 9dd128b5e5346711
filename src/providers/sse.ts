// Server-sent events read from an upstream body, with an idle timeout between events.
// Shared by every streaming provider; framing follows the WHATWG EventSource rules.

import { UpstreamError } from "../shared/errors";

export interface SseEvent {
  /** The `event:` field, or "message" when absent. */
  event: string;
  /** The `data:` lines joined by "\n". */
  data: string;
}

/** Thrown when the upstream sends nothing for longer than the idle timeout. */
export function idleTimeoutError(idleTimeoutMs: number): UpstreamError {
  return new UpstreamError({
    code: "upstream_timeout",
    message: `Upstream sent nothing for ${idleTimeoutMs} ms`,
    retryable: false,
  });
}

/**
 * Yields each event of an SSE body. Throws `UpstreamError` when the body errors or stalls
 * past `idleTimeoutMs`; the caller's abort signal cancels the underlying reader.
 */
export async function* readSseEvents(body: ReadableStream<Uint8Array>, idleTimeoutMs: number): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let eventName = "";
  let dataLines: string[] = [];
  try {
    while (true) {
      const { done, value } = await readWithIdleTimeout(reader, idleTimeoutMs);
      if (done || !value) break;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = findLineEnd(buffer)) !== -1) {
        let line = buffer.slice(0, newline);
        buffer = buffer.slice(buffer[newline] === "\r" && buffer[newline + 1] === "\n" ? newline + 2 : newline + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (dataLines.length > 0) yield { event: eventName || "message", data: dataLines.join("\n") };
          eventName = "";
          dataLines = [];
          continue;
        }
        if (line.startsWith(":")) continue; // comment / keep-alive
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") dataLines.push(value);
        else if (field === "event") eventName = value;
      }
    }
    // A final event without its blank line still counts: some servers end that way.
    if (dataLines.length > 0) yield { event: eventName || "message", data: dataLines.join("\n") };
  } finally {
    reader.cancel().catch(() => {});
  }
}

function findLineEnd(buffer: string): number {
  const lf = buffer.indexOf("\n");
  const cr = buffer.indexOf("\r");
  if (cr === -1) return lf;
  if (lf === -1) return cr === buffer.length - 1 ? -1 : cr; // a trailing CR may be half of CRLF
  return Math.min(lf, cr);
}

type ByteReader = { read(): Promise<{ done: boolean; value?: Uint8Array }> };

async function readWithIdleTimeout(reader: ByteReader, idleTimeoutMs: number): ReturnType<ByteReader["read"]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(idleTimeoutError(idleTimeoutMs)), idleTimeoutMs);
  });
  try {
    return await Promise.race([reader.read(), idle]);
  } catch (error) {
    if (error instanceof UpstreamError) throw error;
    throw new UpstreamError({ code: "upstream_error", message: "Upstream stream failed", retryable: false });
  } finally {
    clearTimeout(timer);
  }
}
