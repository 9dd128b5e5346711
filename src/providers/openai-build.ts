// Reading OpenAI request content and building OpenAI output (completions, stream chunks,
// usage) for the providers that translate to another dialect: Anthropic and Gemini.

import { UpstreamError } from "../shared/errors";
import type { StreamChunk, Usage } from "./types";

export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter";

/** One part of an OpenAI message's `content` array (only the fields the adapters read). */
export interface ContentPart {
  type: string;
  text?: string;
  image_url?: { url: string; detail?: string };
  input_audio?: { data: string; format: string };
  file?: { file_data?: string; filename?: string };
}

/** An OpenAI tool call as it appears in a completion message or an assistant turn. */
export interface OpenAIToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
  /** Provider data a client must send back unchanged (Gemini's thought signature). */
  extra_content?: Record<string, unknown>;
}

/** A 400 for a request this dialect cannot express; never retried, since no route could serve it. */
export function invalidRequest(message: string, param?: string): UpstreamError {
  return new UpstreamError({ code: "invalid_request", message, param, retryable: false });
}

/** OpenAI content (a string or an array of parts) as a list of parts. */
export function contentParts(content: unknown): ContentPart[] {
  if (typeof content === "string") return [{ type: "text", text: content }];
  if (!Array.isArray(content)) return [];
  return content.filter((part): part is ContentPart => !!part && typeof part === "object" && typeof part.type === "string");
}

/** The text of OpenAI content; non-text parts are skipped (system and tool messages are text). */
export function contentText(content: unknown): string {
  return contentParts(content)
    .map((part) => (part.type === "text" || part.type === "refusal" ? part.text ?? (part as { refusal?: string }).refusal ?? "" : ""))
    .join("");
}

/** Splits a `data:<type>;base64,<data>` URL; null for any other URL. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | null {
  const match = /^data:([^;,]+)(?:;[^,]*)?;base64,(.*)$/s.exec(url);
  return match ? { mediaType: match[1]!.toLowerCase(), data: match[2]! } : null;
}

/** `stop` as a list: OpenAI accepts a string or an array of strings. */
export function stopSequences(stop: unknown): string[] | undefined {
  const list = typeof stop === "string" ? [stop] : Array.isArray(stop) ? stop.filter((s): s is string => typeof s === "string") : [];
  return list.length > 0 ? list : undefined;
}

/** `max_completion_tokens` (newer) or `max_tokens`, when the client set one. */
export function requestedMaxTokens(body: Record<string, unknown>): number | undefined {
  const value = Number(body.max_completion_tokens ?? body.max_tokens);
  return Number.isInteger(value) && value > 0 ? value : undefined;
}

/**
 * Tool-call arguments as the object other dialects require. OpenAI carries them as a JSON
 * string; an empty string means no arguments.
 */
export function parseToolArguments(args: unknown, param: string): Record<string, unknown> {
  if (args === undefined || args === null || args === "") return {};
  if (typeof args === "object" && !Array.isArray(args)) return args as Record<string, unknown>;
  try {
    const parsed = JSON.parse(String(args));
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw invalidRequest(`${param} must be a JSON object`, param);
}

/** A tool-call id in OpenAI's style, for upstreams that do not give one. */
export function newToolCallId(): string {
  return `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

/** A completion id in OpenAI's style. */
export function newCompletionId(): string {
  return `chatcmpl-${crypto.randomUUID().replaceAll("-", "").slice(0, 29)}`;
}

/** OpenAI's `usage` object for our usage. */
export function openAIUsage(usage: Usage) {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedInputTokens },
  };
}

/** Frames the `chat.completion.chunk` objects of one stream with a shared id, model and time. */
export interface ChunkWriter {
  /** A chunk with these choices; `textDelta` is the text they add. */
  choices(choices: unknown[], textDelta: string): StreamChunk;
  /** The final usage-only chunk (`choices: []`), as OpenAI sends it with `include_usage`. */
  usage(usage: Usage): StreamChunk;
}

export function chunkWriter(id: string, model: string): ChunkWriter {
  const created = Math.floor(Date.now() / 1000);
  const frame = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({ id, object: "chat.completion.chunk", created, model, system_fingerprint: null, choices, ...extra });
  return {
    choices: (choices, textDelta) => ({ data: frame(choices), textDelta }),
    usage: (usage) => ({ data: frame([], { usage: openAIUsage(usage) }), textDelta: "", usage, usageOnly: true }),
  };
}
