// Google's Gemini API (generativelanguage.googleapis.com) behind the OpenAI format: chat via
// generateContent / streamGenerateContent?alt=sse, embeddings via batchEmbedContents.

import { estimateEmbeddingTokens } from "../shared/tokens";
import { UpstreamError } from "../shared/errors";
import { readUpstreamJson, sendUpstream } from "./http";
import {
  chunkWriter,
  contentParts,
  contentText,
  invalidRequest,
  newCompletionId,
  newToolCallId,
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
import { usageFromCounts, type ChatCall, type ChatResult, type EmbedCall, type EmbedResult, type Provider, type ProviderSettings, type StreamChunk, type Usage } from "./types";

const GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta";
/**
 * Gemini 3 rejects a replayed functionCall part without its thought signature. Clients that
 * rebuild assistant turns from typed fields drop our `extra_content`, so the first call of a
 * turn gets Google's documented sentinel that skips the check (ai.google.dev thought-signatures).
 */
const SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator";

type Part = Record<string, any>;
interface Content {
  role: "user" | "model";
  parts: Part[];
}

export function createGeminiProvider(settings: ProviderSettings): Provider {
  const baseUrl = (settings.base_url ?? GEMINI_BASE_URL).replace(/\/+$/, "");
  const headers: Record<string, string> = { ...settings.headers };
  if (settings.api_key) headers["x-goog-api-key"] = settings.api_key;
  const send = (url: string, body: unknown, signal: AbortSignal) =>
    sendUpstream({ url, headers, body, signal, firstByteTimeoutMs: settings.first_byte_timeout_ms });

  return {
    async chat(call: ChatCall): Promise<ChatResult> {
      const requestedModel = String(call.body.model);
      const model = modelId(requestedModel);
      const url = call.stream
        ? `${baseUrl}/models/${model}:streamGenerateContent?alt=sse`
        : `${baseUrl}/models/${model}:generateContent`;
      const response = await send(url, toGeminiRequest(call.body, model), call.signal);
      if (call.stream) {
        return { kind: "stream", chunks: geminiStreamChunks(response.body!, settings.idle_timeout_ms, requestedModel) };
      }
      return fromGeminiResponse(await readUpstreamJson(response, settings.idle_timeout_ms), requestedModel);
    },

    async embed(call: EmbedCall): Promise<EmbedResult> {
      const requestedModel = String(call.body.model);
      const model = modelId(requestedModel);
      const inputs = embeddingInputs(call.body.input);
      const dimensions = Number(call.body.dimensions);
      const response = await send(
        `${baseUrl}/models/${model}:batchEmbedContents`,
        {
          requests: inputs.map((text) => ({
            model: `models/${model}`,
            content: { parts: [{ text }] },
            ...(Number.isInteger(dimensions) && dimensions > 0 ? { outputDimensionality: dimensions } : {}),
          })),
        },
        call.signal,
      );
      const json = await readUpstreamJson(response, settings.idle_timeout_ms);
      const embeddings = Array.isArray(json.embeddings) ? (json.embeddings as { values?: number[] }[]) : [];
      // batchEmbedContents reports no token counts, so embeddings are billed on an estimate.
      const usage: Usage = { inputTokens: estimateEmbeddingTokens(call.body.input), outputTokens: 0, cachedInputTokens: 0 };
      const base64 = call.body.encoding_format === "base64";
      return {
        model: requestedModel,
        usage,
        body: {
          object: "list",
          data: embeddings.map((embedding, index) => ({
            object: "embedding",
            index,
            // The openai SDK asks for base64 by default and decodes little-endian float32.
            embedding: base64 ? float32Base64(embedding.values ?? []) : embedding.values ?? [],
          })),
          model: requestedModel,
          usage: { prompt_tokens: usage.inputTokens, total_tokens: usage.inputTokens },
        },
      };
    },
  };
}

/** Config may name a model `gemini-2.5-flash` or `models/gemini-2.5-flash`. */
function modelId(model: string): string {
  return model.replace(/^models\//, "");
}

function embeddingInputs(input: unknown): string[] {
  const list = Array.isArray(input) ? input : [input];
  if (list.length === 0 || !list.every((item) => typeof item === "string")) {
    throw invalidRequest("Gemini embeddings take a string or an array of strings as input, not tokens", "input");
  }
  return list as string[];
}

function float32Base64(values: number[]): string {
  return Buffer.from(new Float32Array(values).buffer).toString("base64");
}

// ---- request: OpenAI → Gemini -------------------------------------------------------------

/** Translates an OpenAI chat body to a GenerateContentRequest. */
export function toGeminiRequest(body: Record<string, unknown>, model: string): Record<string, unknown> {
  const system: string[] = [];
  const contents: Content[] = [];
  /** Gemini's functionResponse is matched by name; OpenAI's tool message only has the call id. */
  const toolNames = new Map<string, string>();
  const needsSignature = !/^gemini-[12][.-]/.test(model);
  const push = (role: Content["role"], parts: Part[]) => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    // Merged so that parallel function responses land in one turn, as Gemini requires.
    if (last?.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };

  const input = Array.isArray(body.messages) ? (body.messages as Record<string, unknown>[]) : [];
  input.forEach((message, i) => {
    switch (message?.role) {
      case "system":
      case "developer":
        system.push(contentText(message.content));
        break;
      case "user":
        push("user", userParts(message.content, `messages[${i}].content`));
        break;
      case "assistant": {
        const parts: Part[] = [];
        const text = contentText(message.content);
        if (text) parts.push({ text });
        const calls = Array.isArray(message.tool_calls) ? (message.tool_calls as OpenAIToolCall[]) : [];
        calls.forEach((call, j) => {
          const name = call.function?.name;
          toolNames.set(call.id, name);
          const signature = (call.extra_content?.google as { thought_signature?: unknown } | undefined)?.thought_signature;
          parts.push({
            functionCall: { name, args: parseToolArguments(call.function?.arguments, `messages[${i}].tool_calls[${j}].function.arguments`) },
            ...(typeof signature === "string" ? { thoughtSignature: signature } : j === 0 && needsSignature ? { thoughtSignature: SKIP_THOUGHT_SIGNATURE } : {}),
          });
        });
        push("model", parts);
        break;
      }
      case "tool": {
        const name = toolNames.get(String(message.tool_call_id)) ?? (typeof message.name === "string" ? message.name : undefined);
        if (!name) throw invalidRequest(`messages[${i}].tool_call_id does not match an earlier tool call`, `messages[${i}].tool_call_id`);
        push("user", [{ functionResponse: { name, response: functionResponse(contentText(message.content)) } }]);
        break;
      }
      default:
        throw invalidRequest(`messages[${i}].role ${JSON.stringify(message?.role)} is not supported`, `messages[${i}].role`);
    }
  });

  const request: Record<string, unknown> = { contents };
  const systemText = system.filter((text) => text.length > 0).join("\n\n");
  if (systemText) request.systemInstruction = { parts: [{ text: systemText }] };

  const config: Record<string, unknown> = {};
  if (typeof body.temperature === "number") config.temperature = body.temperature;
  if (typeof body.top_p === "number") config.topP = body.top_p;
  const maxTokens = requestedMaxTokens(body);
  if (maxTokens) config.maxOutputTokens = maxTokens;
  const stop = stopSequences(body.stop);
  if (stop) config.stopSequences = stop;
  if (typeof body.n === "number" && body.n > 1) config.candidateCount = body.n;
  if (typeof body.presence_penalty === "number") config.presencePenalty = body.presence_penalty;
  if (typeof body.frequency_penalty === "number") config.frequencyPenalty = body.frequency_penalty;
  if (typeof body.seed === "number") config.seed = body.seed;
  const format = body.response_format as { type?: string; json_schema?: { schema?: unknown } } | undefined;
  if (format?.type === "json_object" || format?.type === "json_schema") config.responseMimeType = "application/json";
  // responseJsonSchema takes JSON Schema as OpenAI clients write it; the older responseSchema
  // is an OpenAPI subset that rejects `additionalProperties`, which strict schemas always carry.
  if (format?.type === "json_schema" && format.json_schema?.schema) config.responseJsonSchema = format.json_schema.schema;
  if (Object.keys(config).length > 0) request.generationConfig = config;

  const declarations = (Array.isArray(body.tools) ? body.tools : [])
    .filter((tool) => tool?.type === "function" && tool.function?.name)
    .map((tool) => ({
      name: tool.function.name,
      ...(tool.function.description ? { description: tool.function.description } : {}),
      // Same reason as responseJsonSchema: `parameters` is the OpenAPI subset.
      ...(tool.function.parameters ? { parametersJsonSchema: tool.function.parameters } : {}),
    }));
  if (declarations.length > 0) {
    request.tools = [{ functionDeclarations: declarations }];
    const calling = functionCallingConfig(body.tool_choice);
    if (calling) request.toolConfig = { functionCallingConfig: calling };
  }
  return request;
}

function functionCallingConfig(choice: unknown): Record<string, unknown> | undefined {
  if (choice === "auto") return { mode: "AUTO" };
  if (choice === "none") return { mode: "NONE" };
  if (choice === "required") return { mode: "ANY" };
  const named = (choice as { function?: { name?: unknown } } | undefined)?.function?.name;
  if (typeof named === "string") return { mode: "ANY", allowedFunctionNames: [named] };
  return undefined;
}

/** Gemini wants a JSON object as the function's result: parse it when it is one, else wrap it. */
function functionResponse(text: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed;
    return { output: parsed };
  } catch {
    return { output: text };
  }
}

const AUDIO_TYPES: Record<string, string> = { wav: "audio/wav", mp3: "audio/mp3" };
const IMAGE_TYPES: Record<string, string> = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", webp: "image/webp", gif: "image/gif", heic: "image/heic", heif: "image/heif" };

function userParts(content: unknown, param: string): Part[] {
  return contentParts(content).flatMap((part, i): Part[] => {
    if (part.type === "text") return part.text ? [{ text: part.text }] : [];
    if (part.type === "image_url" && part.image_url?.url) {
      const url = part.image_url.url;
      const data = parseDataUrl(url);
      if (data) return [{ inlineData: { mimeType: data.mediaType, data: data.data } }];
      const extension = /\.([a-z0-9]+)(?:[?#]|$)/i.exec(url)?.[1]?.toLowerCase() ?? "";
      return [{ fileData: { ...(IMAGE_TYPES[extension] ? { mimeType: IMAGE_TYPES[extension] } : {}), fileUri: url } }];
    }
    if (part.type === "input_audio" && part.input_audio?.data && AUDIO_TYPES[part.input_audio.format]) {
      return [{ inlineData: { mimeType: AUDIO_TYPES[part.input_audio.format], data: part.input_audio.data } }];
    }
    if (part.type === "file" && part.file?.file_data) {
      const data = parseDataUrl(part.file.file_data);
      if (data) return [{ inlineData: { mimeType: data.mediaType, data: data.data } }];
    }
    throw invalidRequest(`${param}[${i}]: content part type ${part.type} is not supported by this model`, `${param}[${i}]`);
  });
}

// ---- response: Gemini → OpenAI ------------------------------------------------------------

interface UsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
}

/** promptTokenCount already includes the cached tokens; thinking tokens are billed as output. */
function usageFromGemini(usage: UsageMetadata | undefined): Usage | null {
  if (!usage || typeof usage.promptTokenCount !== "number") return null;
  return usageFromCounts(
    [usage.promptTokenCount, usage.toolUsePromptTokenCount],
    [usage.candidatesTokenCount, usage.thoughtsTokenCount],
    usage.cachedContentTokenCount,
  );
}

const FILTERED = new Set(["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"]);

function finishReason(reason: string, calledTools: boolean): FinishReason {
  if (reason === "MAX_TOKENS") return "length";
  if (FILTERED.has(reason)) return "content_filter";
  return calledTools ? "tool_calls" : "stop"; // STOP, OTHER, MALFORMED_FUNCTION_CALL…
}

interface Candidate {
  index?: number;
  content?: { parts?: Part[] };
  finishReason?: string;
}

/** Text of a candidate's parts, leaving out thought summaries. */
function partsText(parts: Part[]): string {
  return parts.filter((part) => typeof part.text === "string" && !part.thought).map((part) => part.text).join("");
}

function toolCallsOf(parts: Part[]): OpenAIToolCall[] {
  return parts
    .filter((part) => part.functionCall)
    .map((part) => ({
      id: typeof part.functionCall.id === "string" ? part.functionCall.id : newToolCallId(),
      type: "function",
      function: { name: String(part.functionCall.name), arguments: JSON.stringify(part.functionCall.args ?? {}) },
      // Google's own OpenAI endpoint hands the signature back in this field; we read it too.
      ...(part.thoughtSignature ? { extra_content: { google: { thought_signature: part.thoughtSignature } } } : {}),
    }));
}

/** A prompt blocked before generation comes back without candidates. */
function blockedPrompt(json: Record<string, any>): boolean {
  return (!Array.isArray(json.candidates) || json.candidates.length === 0) && !!json.promptFeedback?.blockReason;
}

function fromGeminiResponse(json: Record<string, any>, requestedModel: string): ChatResult {
  const candidates: Candidate[] = Array.isArray(json.candidates) ? json.candidates : [];
  const choices = candidates.map((candidate, i) => {
    const parts = candidate.content?.parts ?? [];
    const text = partsText(parts);
    const toolCalls = toolCallsOf(parts);
    return {
      index: candidate.index ?? i,
      message: { role: "assistant", content: text || (toolCalls.length > 0 ? null : ""), refusal: null, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
      logprobs: null,
      finish_reason: finishReason(candidate.finishReason ?? "STOP", toolCalls.length > 0),
    };
  });
  if (blockedPrompt(json)) {
    choices.push({ index: 0, message: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: "content_filter" });
  }
  const usage = usageFromGemini(json.usageMetadata);
  const model = String(json.modelVersion ?? requestedModel);
  return {
    kind: "json",
    model,
    usage,
    body: {
      id: json.responseId ? `chatcmpl-${json.responseId}` : newCompletionId(),
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model,
      choices,
      ...(usage ? { usage: openAIUsage(usage) } : {}),
    },
  };
}

/**
 * Each SSE event is a whole GenerateContentResponse carrying new text and complete function
 * calls; usageMetadata is cumulative, so the last one is the bill.
 */
async function* geminiStreamChunks(body: ReadableStream<Uint8Array>, idleTimeoutMs: number, requestedModel: string): AsyncGenerator<StreamChunk> {
  let writer: ChunkWriter | undefined;
  let usage: Usage | null = null;
  let finished = false;
  const started = new Set<number>();
  /** Tool calls seen so far per choice: OpenAI numbers them within a choice. */
  const toolCount = new Map<number, number>();

  for await (const event of readSseEvents(body, idleTimeoutMs)) {
    let json: Record<string, any>;
    try {
      json = JSON.parse(event.data);
    } catch {
      throw new UpstreamError({ code: "upstream_error", message: "Upstream sent a malformed stream event", retryable: false });
    }
    if (json.error) {
      throw new UpstreamError({ code: "upstream_error", message: `Upstream stream error: ${json.error.message ?? json.error.status ?? "unknown"}`, retryable: false });
    }
    writer ??= chunkWriter(json.responseId ? `chatcmpl-${json.responseId}` : newCompletionId(), String(json.modelVersion ?? requestedModel));
    // The latest report is the bill: an unusable one voids the earlier ones too.
    if (json.usageMetadata) usage = usageFromGemini(json.usageMetadata);

    const choices: unknown[] = [];
    let textDelta = "";
    const candidates: Candidate[] = Array.isArray(json.candidates) ? json.candidates : [];
    candidates.forEach((candidate, i) => {
      const index = candidate.index ?? i;
      const parts = candidate.content?.parts ?? [];
      const delta: Record<string, unknown> = {};
      if (!started.has(index)) {
        started.add(index);
        delta.role = "assistant";
      }
      const text = partsText(parts);
      if (text) delta.content = text;
      const calls = toolCallsOf(parts);
      if (calls.length > 0) {
        const first = toolCount.get(index) ?? 0;
        toolCount.set(index, first + calls.length);
        delta.tool_calls = calls.map((call, j) => ({ index: first + j, ...call }));
      }
      textDelta += text + calls.map((call) => call.function.arguments).join("");
      const finish = candidate.finishReason ? finishReason(candidate.finishReason, (toolCount.get(index) ?? 0) > 0) : null;
      if (finish) finished = true;
      if (Object.keys(delta).length > 0 || finish) choices.push({ index, delta, logprobs: null, finish_reason: finish });
    });
    if (blockedPrompt(json)) {
      finished = true;
      choices.push({ index: 0, delta: { role: "assistant" }, logprobs: null, finish_reason: "content_filter" });
    }
    if (choices.length > 0) yield writer.choices(choices, textDelta);
  }
  // Gemini has no end marker: a stream that closes without a finishReason was cut short.
  if (!finished || !writer) {
    throw new UpstreamError({ code: "upstream_error", message: "Upstream stream ended before its finish reason", retryable: false });
  }
  if (usage) yield writer.usage(usage);
}
