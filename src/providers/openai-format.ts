// Reading OpenAI's own wire format: usage objects and stream chunks. Used by the OpenAI,
// OpenAI-compatible and Azure providers, which pass the upstream's bytes through.

import { UpstreamError } from "../shared/errors";
import { readSseEvents } from "./sse";
import { usageFromCounts, type StreamChunk, type Usage } from "./types";

/** OpenAI's `usage` object → ours; null when absent or malformed (see usageFromCounts). */
export function usageFromOpenAI(usage: unknown): Usage | null {
  if (!usage || typeof usage !== "object") return null;
  const u = usage as {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    prompt_tokens_details?: { cached_tokens?: unknown } | null;
  };
  if (typeof u.prompt_tokens !== "number") return null;
  return usageFromCounts([u.prompt_tokens], [u.completion_tokens], u.prompt_tokens_details?.cached_tokens);
}

interface OpenAIChunk {
  choices?: { delta?: { content?: unknown; tool_calls?: { function?: { arguments?: unknown } }[] } }[];
  usage?: unknown;
  error?: { message?: string };
}

/** The text a chunk adds: content and tool-call arguments. */
function textOfChunk(chunk: OpenAIChunk): string {
  let text = "";
  for (const choice of chunk.choices ?? []) {
    const delta = choice.delta;
    if (!delta) continue;
    if (typeof delta.content === "string") text += delta.content;
    for (const call of delta.tool_calls ?? []) {
      if (typeof call.function?.arguments === "string") text += call.function.arguments;
    }
  }
  return text;
}

/**
 * Turns an OpenAI SSE body into StreamChunks, keeping each event's JSON text untouched so
 * the bytes the client sees are the upstream's own.
 */
export async function* openAIStreamChunks(body: ReadableStream<Uint8Array>, idleTimeoutMs: number): AsyncGenerator<StreamChunk> {
  for await (const event of readSseEvents(body, idleTimeoutMs)) {
    if (event.data === "[DONE]") return;
    let chunk: OpenAIChunk;
    try {
      chunk = JSON.parse(event.data) as OpenAIChunk;
    } catch {
      throw new UpstreamError({ code: "upstream_error", message: "Upstream sent a malformed stream chunk", retryable: false });
    }
    if (chunk.error) {
      throw new UpstreamError({ code: "upstream_error", message: chunk.error.message ?? "Upstream stream error", retryable: false });
    }
    const usage = usageFromOpenAI(chunk.usage) ?? undefined;
    // Decided by the chunk's shape, not by whether its usage was usable: a `choices: []`
    // chunk must not reach a client that never asked for usage.
    const usageOnly = chunk.usage != null && (chunk.choices?.length ?? 0) === 0;
    yield { data: event.data, textDelta: textOfChunk(chunk), usage, usageOnly };
  }
}

/**
 * An embeddings list in the encoding the client asked for. The openai SDK asks for
 * `encoding_format: base64` by default and decodes every embedding as little-endian float32;
 * some OpenAI-compatible servers ignore the field and answer float arrays, which the SDK
 * would turn into garbage, so those are encoded here.
 */
export function embeddingsAsRequested(json: Record<string, unknown>, encodingFormat: unknown): Record<string, unknown> {
  if (encodingFormat !== "base64" || !Array.isArray(json.data)) return json;
  for (const item of json.data as { embedding?: unknown }[]) {
    if (Array.isArray(item?.embedding)) item.embedding = Buffer.from(new Float32Array(item.embedding as number[]).buffer).toString("base64");
  }
  return json;
}
