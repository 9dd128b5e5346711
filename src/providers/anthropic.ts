// Anthropic's Messages API behind the OpenAI chat format: an OpenAI body becomes
// `POST /v1/messages`; the answer and its SSE events become chat.completion(.chunk) JSON.

import { UpstreamError, type ErrorCode } from "../shared/errors";
import { readUpstreamJson, sendUpstream } from "./http";
import {
  chunkWriter,
  contentParts,
  contentText,
  invalidRequest,
  newCompletionId,
  openAIUsage,
  parseDataUrl,
  parseToolArguments,
  requestedMaxTokens,
  stopSequences,
  type ChunkWriter,
  type FinishReason,
  type OpenAIToolCall,
} from "./openai-build";
import { readSseEvents } from "./sse";
import { usageFromCounts, type ChatCall, type ChatResult, type Provider, type ProviderSettings, type StreamChunk, type Usage } from "./types";

const ANTHROPIC_BASE_URL = "https://api.anthropic.com";
const DEFAULT_ANTHROPIC_VERSION = "2023-06-01";
/** Anthropic requires `max_tokens`; OpenAI clients usually leave it out. */
const DEFAULT_MAX_TOKENS = 4096;

type Block = Record<string, unknown> & { type: string };
interface AnthropicMessage {
  role: "user" | "assistant";
  content: Block[];
}

export function createAnthropicProvider(settings: ProviderSettings): Provider {
  // The documented base is the host; accept a configured `…/v1` too rather than doubling it.
  const root = (settings.base_url ?? ANTHROPIC_BASE_URL).replace(/\/+$/, "").replace(/\/v1$/, "");
  const headers: Record<string, string> = {
    ...settings.headers,
    "anthropic-version": settings.anthropic_version ?? DEFAULT_ANTHROPIC_VERSION,
  };
  if (settings.api_key) headers["x-api-key"] = settings.api_key;

  return {
    async chat(call: ChatCall): Promise<ChatResult> {
      const requestedModel = String(call.body.model);
      const response = await sendUpstream({
        url: `${root}/v1/messages`,
        headers,
        body: toAnthropicRequest(call.body, call.stream),
        signal: call.signal,
        firstByteTimeoutMs: settings.first_byte_timeout_ms,
      });
      if (call.stream) {
        return { kind: "stream", chunks: anthropicStreamChunks(response.body!, settings.idle_timeout_ms, requestedModel) };
      }
      return fromAnthropicMessage(await readUpstreamJson(response, settings.idle_timeout_ms), requestedModel);
    },
  };
}

// ---- request: OpenAI → Anthropic ----------------------------------------------------------

/** Translates an OpenAI chat body to a Messages API body. */
export function toAnthropicRequest(body: Record<string, unknown>, stream: boolean): Record<string, unknown> {
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  // Anthropic wants user/assistant turns to alternate, so consecutive same-role messages
  // (e.g. several tool results, or tool results then user text) are merged into one turn.
  const push = (role: AnthropicMessage["role"], blocks: Block[]) => {
    if (blocks.length === 0) return; // empty content is rejected upstream
    const last = messages.at(-1);
    if (last?.role !== role) {
      messages.push({ role, content: blocks });
      return;
    }
    for (const block of blocks) {
      // tool_result blocks must lead their user turn.
      if (block.type === "tool_result") {
        const firstOther = last.content.findIndex((b) => b.type !== "tool_result");
        last.content.splice(firstOther === -1 ? last.content.length : firstOther, 0, block);
      } else {
        last.content.push(block);
      }
    }
  };

  const input = Array.isArray(body.messages) ? (body.messages as Record<string, unknown>[]) : [];
  input.forEach((message, i) => {
    switch (message?.role) {
      case "system":
      case "developer":
        system.push(contentText(message.content));
        break;
      case "user":
        push("user", userBlocks(message.content, `messages[${i}].content`));
        break;
      case "assistant":
        push("assistant", assistantBlocks(message, i));
        break;
      case "tool": {
        const text = contentText(message.content);
        push("user", [{ type: "tool_result", tool_use_id: String(message.tool_call_id ?? ""), ...(text ? { content: text } : {}) }]);
        break;
      }
      default:
        throw invalidRequest(`messages[${i}].role ${JSON.stringify(message?.role)} is not supported`, `messages[${i}].role`);
    }
  });

  // JSON mode has no Messages API switch (structured outputs are a beta behind a header), so
  // it is best effort: an instruction in the system prompt, plus the schema when one is given.
  const format = body.response_format as { type?: string; json_schema?: { schema?: unknown } } | undefined;
  if (format?.type === "json_object") {
    system.push("Respond with a single valid JSON object and nothing else: no prose, no markdown code fences.");
  } else if (format?.type === "json_schema") {
    system.push(
      "Respond with a single valid JSON object and nothing else: no prose, no markdown code fences. " +
        `The object must conform to this JSON Schema: ${JSON.stringify(format.json_schema?.schema ?? {})}`,
    );
  }

  const request: Record<string, unknown> = {
    model: body.model,
    max_tokens: requestedMaxTokens(body) ?? DEFAULT_MAX_TOKENS,
    messages,
  };
  const systemText = system.filter((text) => text.length > 0).join("\n\n");
  if (systemText) request.system = systemText;
  const stop = stopSequences(body.stop);
  if (stop) request.stop_sequences = stop;
  // OpenAI's temperature runs 0–2, Anthropic's 0–1: clamp rather than fail.
  if (typeof body.temperature === "number") request.temperature = Math.min(Math.max(body.temperature, 0), 1);
  // Recent Claude models reject temperature and top_p together; temperature wins.
  else if (typeof body.top_p === "number") request.top_p = body.top_p;
  if (typeof body.user === "string") request.metadata = { user_id: body.user };
  if (stream) request.stream = true;

  const tools = (Array.isArray(body.tools) ? body.tools : [])
    .filter((tool) => tool?.type === "function" && tool.function?.name)
    .map((tool) => ({
      name: tool.function.name,
      ...(tool.function.description ? { description: tool.function.description } : {}),
      input_schema: tool.function.parameters ?? { type: "object", properties: {} },
    }));
  if (tools.length > 0) {
    request.tools = tools;
    const choice = toolChoice(body.tool_choice, body.parallel_tool_calls === false);
    if (choice) request.tool_choice = choice;
  }
  return request;
}

function toolChoice(choice: unknown, noParallel: boolean): Record<string, unknown> | undefined {
  const single = noParallel ? { disable_parallel_tool_use: true } : {};
  if (choice === "none") return { type: "none" };
  if (choice === "required") return { type: "any", ...single };
  const named = (choice as { function?: { name?: unknown } } | undefined)?.function?.name;
  if (typeof named === "string") return { type: "tool", name: named, ...single };
  if (choice === "auto" || noParallel) return { type: "auto", ...single };
  return undefined;
}

function userBlocks(content: unknown, param: string): Block[] {
  return contentParts(content).flatMap((part, i): Block[] => {
    if (part.type === "text") return part.text ? [{ type: "text", text: part.text }] : [];
    if (part.type === "image_url" && part.image_url?.url) {
      const data = parseDataUrl(part.image_url.url);
      return [{ type: "image", source: data ? { type: "base64", media_type: data.mediaType, data: data.data } : { type: "url", url: part.image_url.url } }];
    }
    if (part.type === "file" && part.file?.file_data) {
      const data = parseDataUrl(part.file.file_data);
      if (data?.mediaType === "application/pdf") return [{ type: "document", source: { type: "base64", media_type: data.mediaType, data: data.data } }];
    }
    throw invalidRequest(`${param}[${i}]: content part type ${part.type} is not supported by this model`, `${param}[${i}]`);
  });
}

function assistantBlocks(message: Record<string, unknown>, i: number): Block[] {
  const blocks: Block[] = [];
  const text = contentText(message.content);
  if (text) blocks.push({ type: "text", text });
  const calls = Array.isArray(message.tool_calls) ? (message.tool_calls as OpenAIToolCall[]) : [];
  calls.forEach((call, j) => {
    blocks.push({
      type: "tool_use",
      id: call.id,
      name: call.function?.name,
      input: parseToolArguments(call.function?.arguments, `messages[${i}].tool_calls[${j}].function.arguments`),
    });
  });
  return blocks;
}

// ---- response: Anthropic → OpenAI ---------------------------------------------------------

interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
}

/**
 * Anthropic reports uncached, cache-read and cache-write input tokens separately; OpenAI's
 * `prompt_tokens` is their sum. Cache writes count as ordinary input: our pricing has no
 * cache-write price, and billing them as input is closer than the cached price.
 */
function usageFromAnthropic(usage: AnthropicUsage | undefined): Usage | null {
  if (!usage || typeof usage.input_tokens !== "number") return null;
  const cacheRead = usage.cache_read_input_tokens;
  return usageFromCounts([usage.input_tokens, cacheRead, usage.cache_creation_input_tokens], [usage.output_tokens], cacheRead);
}

function finishReason(stopReason: unknown): FinishReason {
  switch (stopReason) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default: // end_turn, stop_sequence, pause_turn
      return "stop";
  }
}

function fromAnthropicMessage(json: Record<string, unknown>, requestedModel: string): ChatResult {
  const blocks = Array.isArray(json.content) ? (json.content as Block[]) : [];
  const text = blocks.filter((b) => b.type === "text").map((b) => String(b.text ?? "")).join("");
  const toolCalls: OpenAIToolCall[] = blocks
    .filter((b) => b.type === "tool_use")
    .map((b) => ({ id: String(b.id), type: "function", function: { name: String(b.name), arguments: JSON.stringify(b.input ?? {}) } }));
  const usage = usageFromAnthropic(json.usage as AnthropicUsage | undefined);
  const model = String(json.model ?? requestedModel);
  return {
    kind: "json",
    model,
    usage,
    body: {
      id: typeof json.id === "string" ? json.id : newCompletionId(),
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: text || (toolCalls.length > 0 ? null : ""), refusal: null, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
          logprobs: null,
          finish_reason: finishReason(json.stop_reason),
        },
      ],
      ...(usage ? { usage: openAIUsage(usage) } : {}),
    },
  };
}

/** An `error` event inside a 200 stream: overloads and server errors may be retried elsewhere. */
function streamError(error: { type?: string; message?: string } | undefined): UpstreamError {
  const codes: Record<string, ErrorCode> = { overloaded_error: "upstream_unavailable", rate_limit_error: "rate_limit_exceeded", api_error: "upstream_error" };
  const type = error?.type ?? "";
  return new UpstreamError({
    code: codes[type] ?? "upstream_error",
    message: `Upstream stream error: ${error?.message ?? (type || "unknown")}`,
    retryable: type in codes,
  });
}

/**
 * Turns Anthropic's stream (message_start, content_block_*, message_delta, message_stop)
 * into OpenAI chunks, ending with a usage-only chunk.
 */
async function* anthropicStreamChunks(body: ReadableStream<Uint8Array>, idleTimeoutMs: number, requestedModel: string): AsyncGenerator<StreamChunk> {
  let writer: ChunkWriter | undefined;
  const write = () => (writer ??= chunkWriter(newCompletionId(), requestedModel));
  const usage: AnthropicUsage = {};
  const mergeUsage = (next: AnthropicUsage | undefined) => {
    // message_delta counts are cumulative; null means "unchanged".
    for (const [key, value] of Object.entries(next ?? {})) if (typeof value === "number") usage[key as keyof AnthropicUsage] = value;
  };
  /** Anthropic numbers content blocks; OpenAI numbers tool calls. */
  const toolIndexOfBlock = new Map<number, number>();
  const choice = (delta: Record<string, unknown>, finish: FinishReason | null = null) => [{ index: 0, delta, logprobs: null, finish_reason: finish }];

  for await (const event of readSseEvents(body, idleTimeoutMs)) {
    let data: Record<string, any>;
    try {
      data = JSON.parse(event.data);
    } catch {
      throw new UpstreamError({ code: "upstream_error", message: "Upstream sent a malformed stream event", retryable: false });
    }
    switch (data.type ?? event.event) {
      case "message_start": {
        const message = data.message ?? {};
        writer = chunkWriter(typeof message.id === "string" ? message.id : newCompletionId(), String(message.model ?? requestedModel));
        mergeUsage(message.usage);
        yield writer.choices(choice({ role: "assistant", content: "" }), "");
        break;
      }
      case "content_block_start": {
        const block = data.content_block ?? {};
        if (block.type === "tool_use") {
          const index = toolIndexOfBlock.size;
          toolIndexOfBlock.set(data.index, index);
          yield write().choices(choice({ tool_calls: [{ index, id: block.id, type: "function", function: { name: block.name, arguments: "" } }] }), "");
        } else if (block.type === "text" && block.text) {
          yield write().choices(choice({ content: block.text }), block.text);
        }
        break;
      }
      case "content_block_delta": {
        const delta = data.delta ?? {};
        if (delta.type === "text_delta" && delta.text) {
          yield write().choices(choice({ content: delta.text }), delta.text);
        } else if (delta.type === "input_json_delta" && delta.partial_json) {
          const index = toolIndexOfBlock.get(data.index) ?? 0;
          yield write().choices(choice({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] }), delta.partial_json);
        }
        break; // thinking and signature deltas have no OpenAI counterpart
      }
      case "message_delta":
        mergeUsage(data.usage);
        if (data.delta?.stop_reason) yield write().choices(choice({}, finishReason(data.delta.stop_reason)), "");
        break;
      case "message_stop": {
        const final = usageFromAnthropic(usage);
        if (final) yield write().usage(final);
        return;
      }
      case "error":
        throw streamError(data.error);
      default:
        break; // ping, content_block_stop, and event types added later
    }
  }
  throw new UpstreamError({ code: "upstream_error", message: "Upstream stream ended before message_stop", retryable: false });
}
