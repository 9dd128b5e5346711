// A fake Gemini API (generativelanguage v1beta) on a free local port. It checks requests as
// Google does (API key header, contents/parts shape, unknown fields, function-call pairing)
// and answers with GenerateContentResponse JSON, `data: …\r\n\r\n` SSE, and Google error bodies.

import type { RecordedRequest } from "./openai";

export type { RecordedRequest };

/** Gemini's usageMetadata counts; cached and thoughts are optional. */
export interface GeminiFakeUsage {
  promptTokenCount: number;
  candidatesTokenCount: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
}

/** A function the fake "decides" to call. */
export interface GeminiFakeFunctionCall {
  name: string;
  args: Record<string, unknown>;
  /** Sent as the part's `thoughtSignature`, as Gemini 3 does. */
  thoughtSignature?: string;
}

/** How the fake answers one request. Without a queued behavior: `stream` for streamGenerateContent, else `ok`. */
export type GeminiFakeBehavior =
  /** One candidate per `candidateCount` (the text gets " (2)", " (3)"… appended); `functionCalls` add functionCall parts. */
  | { kind: "ok"; text?: string; functionCalls?: GeminiFakeFunctionCall[]; finishReason?: string; usage?: GeminiFakeUsage; modelVersion?: string }
  /**
   * One SSE event per text chunk (`delayMs` apart), then one with all `functionCalls`, the last
   * carrying finishReason and the final usageMetadata. `errorAfter` sends `data: {"error":…}`
   * after that many chunks; `dieAfter` drops the connection.
   */
  | {
      kind: "stream";
      chunks?: string[];
      functionCalls?: GeminiFakeFunctionCall[];
      finishReason?: string;
      usage?: GeminiFakeUsage;
      delayMs?: number;
      errorAfter?: number;
      dieAfter?: number;
    }
  /** The prompt is blocked: no candidates, `promptFeedback.blockReason` (default SAFETY). */
  | { kind: "blocked"; blockReason?: string }
  /** An HTTP error with Google's body `{error: {code, message, status}}`. */
  | { kind: "error"; status: number; message?: string; statusText?: string; headers?: Record<string, string> }
  /** Never answers (until the fake is closed). */
  | { kind: "hang" };

export interface FakeGemini {
  /** Base URL to configure as the provider's `base_url` (ends in `/v1beta`). */
  url: string;
  port: number;
  /** The key the fake accepts in `x-goog-api-key`. */
  apiKey: string;
  /** Every request received, valid or not, in order. `path` includes the `:method` suffix. */
  requests: RecordedRequest[];
  /** Answers the next chat requests with these behaviors, in order, then falls back to the default. */
  enqueue(...behaviors: GeminiFakeBehavior[]): void;
  close(): Promise<void>;
}

const DEFAULT_USAGE: GeminiFakeUsage = { promptTokenCount: 12, candidatesTokenCount: 6 };
const REQUEST_FIELDS = new Set(["contents", "systemInstruction", "generationConfig", "tools", "toolConfig", "safetySettings", "cachedContent"]);
const CONFIG_FIELDS = new Set([
  "temperature", "topP", "topK", "maxOutputTokens", "stopSequences", "candidateCount", "presencePenalty", "frequencyPenalty",
  "seed", "responseMimeType", "responseSchema", "responseJsonSchema", "responseLogprobs", "logprobs", "thinkingConfig", "responseModalities",
]);
const DATA_FIELDS = ["text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"];
const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
};

const encoder = new TextEncoder();

function errorResponse(status: number, message: string, statusText?: string, headers?: Record<string, string>, details?: unknown[]): Response {
  return Response.json({ error: { code: status, message, status: statusText ?? STATUS_NAMES[status] ?? "UNKNOWN", ...(details ? { details } : {}) } }, { status, headers });
}

/** The key check Google makes before anything else. */
function checkKey(headers: Headers, apiKey: string): Response | null {
  const key = headers.get("x-goog-api-key");
  if (!key) {
    return errorResponse(403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
  }
  if (key !== apiKey) {
    return errorResponse(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", undefined, [
      { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com", metadata: { service: "generativelanguage.googleapis.com" } },
    ]);
  }
  return null;
}

/** Returns what is wrong with a GenerateContentRequest, or null when Gemini would take it. */
export function checkGeminiRequest(body: any): string | null {
  if (!body || typeof body !== "object") return "Invalid JSON payload received.";
  for (const key of Object.keys(body)) if (!REQUEST_FIELDS.has(key)) return `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`;
  if (!Array.isArray(body.contents) || body.contents.length === 0) return "* GenerateContentRequest.contents: contents is not specified";
  let previousCalls = 0;
  for (const [i, content] of body.contents.entries()) {
    if (content.role !== undefined && content.role !== "user" && content.role !== "model") return `Please use a valid role: user, model.`;
    if (i > 0 && body.contents[i - 1].role === content.role) return "Please ensure that multiturn requests alternate between user and model.";
    if (!Array.isArray(content.parts) || content.parts.length === 0) return `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`;
    let calls = 0;
    let responses = 0;
    for (const [j, part] of content.parts.entries()) {
      const where = `contents[${i}].parts[${j}]`;
      const fields = Object.keys(part).filter((key) => DATA_FIELDS.includes(key));
      const unknown = Object.keys(part).filter((key) => !DATA_FIELDS.includes(key) && key !== "thought" && key !== "thoughtSignature");
      if (unknown.length > 0) return `Invalid JSON payload received. Unknown name "${unknown[0]}" at '${where}': Cannot find field.`;
      if (fields.length !== 1) return `* GenerateContentRequest.${where}.data: required oneof field 'data' must have one initialized field`;
      if (part.inlineData && !(part.inlineData.mimeType && part.inlineData.data)) return `* GenerateContentRequest.${where}.inline_data: mime_type and data are required`;
      if (part.fileData && !part.fileData.fileUri) return `* GenerateContentRequest.${where}.file_data.file_uri: file_uri is required`;
      if (part.functionCall) {
        if (content.role !== "model") return "Please ensure that function call turn comes immediately after a user turn or after a function response turn.";
        if (typeof part.functionCall.name !== "string" || typeof (part.functionCall.args ?? {}) !== "object") return `* GenerateContentRequest.${where}.function_call: name is required`;
        calls++;
      }
      if (part.functionResponse) {
        if (typeof part.functionResponse.name !== "string" || !part.functionResponse.response || typeof part.functionResponse.response !== "object" || Array.isArray(part.functionResponse.response)) {
          return `* GenerateContentRequest.${where}.function_response: name and a response object are required`;
        }
        responses++;
      }
    }
    if (responses > 0 && responses !== previousCalls) {
      return "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.";
    }
    previousCalls = calls;
  }
  if (body.systemInstruction !== undefined && !Array.isArray(body.systemInstruction?.parts)) return "* GenerateContentRequest.system_instruction.parts: parts is required";
  const config = body.generationConfig ?? {};
  for (const key of Object.keys(config)) if (!CONFIG_FIELDS.has(key)) return `Invalid JSON payload received. Unknown name "${key}" at 'generation_config': Cannot find field.`;
  if (config.responseSchema && config.responseJsonSchema) return "responseSchema and responseJsonSchema cannot both be set.";
  if ((config.responseSchema || config.responseJsonSchema) && config.responseMimeType !== "application/json") return "* GenerateContentRequest.generation_config.response_mime_type: must be application/json when a schema is set";
  if (config.stopSequences !== undefined && (!Array.isArray(config.stopSequences) || config.stopSequences.length > 5)) return "* GenerateContentRequest.generation_config.stop_sequences: at most 5";
  for (const tool of body.tools ?? []) {
    for (const declaration of tool.functionDeclarations ?? []) {
      if (typeof declaration.name !== "string") return "* GenerateContentRequest.tools[0].function_declarations[0].name: Name cannot be empty.";
      if (declaration.parameters && declaration.parametersJsonSchema) return "parameters and parametersJsonSchema are mutually exclusive.";
    }
  }
  const calling = body.toolConfig?.functionCallingConfig;
  if (calling) {
    if (!["AUTO", "ANY", "NONE", "VALIDATED"].includes(calling.mode)) return "* GenerateContentRequest.tool_config.function_calling_config.mode: invalid";
    if (calling.allowedFunctionNames && calling.mode !== "ANY") return "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: only allowed in ANY mode";
  }
  return null;
}

/** Starts the fake. Requests must carry `x-goog-api-key: <apiKey>` (default "gemini-fake-key"). */
export function startFakeGemini(options: { apiKey?: string } = {}): FakeGemini {
  const apiKey = options.apiKey ?? "gemini-fake-key";
  const requests: RecordedRequest[] = [];
  const queue: GeminiFakeBehavior[] = [];

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const text = await request.text();
      let body: any = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        body = text;
      }
      // Keep the query in `path`: alt=sse matters for Gemini.
      requests.push({ method: request.method, path: url.pathname + url.search, headers: Object.fromEntries(request.headers), body });
      const route = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)$/.exec(url.pathname);
      if (request.method !== "POST" || !route) return errorResponse(404, `Requested entity was not found.`);
      const keyProblem = checkKey(request.headers, apiKey);
      if (keyProblem) return keyProblem;
      const [, model, method] = route as unknown as [string, string, string];

      if (method === "batchEmbedContents") return embed(model, body);
      const problem = checkGeminiRequest(body);
      if (problem) return errorResponse(400, problem);

      const streaming = method === "streamGenerateContent";
      const behavior = queue.shift() ?? (streaming ? { kind: "stream" as const } : { kind: "ok" as const });
      if (behavior.kind === "hang") return new Promise<Response>(() => {});
      if (behavior.kind === "error") {
        const message = behavior.message ?? (behavior.status === 503 ? "The model is overloaded. Please try again later." : `fake error ${behavior.status}`);
        return errorResponse(behavior.status, message, behavior.statusText, behavior.headers);
      }
      const events = behavior.kind === "stream" ? streamEvents(model, behavior) : [answer(model, body, behavior)];
      if (!streaming) {
        if (behavior.kind === "stream") return new Response("fake: queued a stream answer for generateContent", { status: 500 });
        return Response.json(events[0]);
      }
      if (url.searchParams.get("alt") !== "sse") {
        // Without alt=sse Gemini streams one JSON array, which SSE readers cannot parse.
        return Response.json(events);
      }
      return new Response(sseBody(events, behavior.kind === "stream" ? behavior : {}), { headers: { "content-type": "text/event-stream" } });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}/v1beta`,
    port: server.port!,
    apiKey,
    requests,
    enqueue: (...behaviors) => queue.push(...behaviors),
    close: async () => {
      server.stop(true);
    },
  };
}

function usageMetadata(usage: GeminiFakeUsage) {
  return {
    promptTokenCount: usage.promptTokenCount,
    candidatesTokenCount: usage.candidatesTokenCount,
    totalTokenCount: usage.promptTokenCount + usage.candidatesTokenCount + (usage.thoughtsTokenCount ?? 0),
    ...(usage.cachedContentTokenCount ? { cachedContentTokenCount: usage.cachedContentTokenCount } : {}),
    ...(usage.thoughtsTokenCount ? { thoughtsTokenCount: usage.thoughtsTokenCount } : {}),
    promptTokensDetails: [{ modality: "TEXT", tokenCount: usage.promptTokenCount }],
  };
}

function functionCallParts(calls: GeminiFakeFunctionCall[] | undefined) {
  return (calls ?? []).map((call) => ({ functionCall: { name: call.name, args: call.args }, ...(call.thoughtSignature ? { thoughtSignature: call.thoughtSignature } : {}) }));
}

function answer(model: string, request: any, behavior: Exclude<GeminiFakeBehavior, { kind: "stream" | "error" | "hang" }>) {
  if (behavior.kind === "blocked") {
    return {
      promptFeedback: { blockReason: behavior.blockReason ?? "SAFETY", safetyRatings: [{ category: "HARM_CATEGORY_DANGEROUS_CONTENT", probability: "HIGH" }] },
      usageMetadata: usageMetadata({ promptTokenCount: 12, candidatesTokenCount: 0 }),
      modelVersion: model,
      responseId: "fakeBlocked01",
    };
  }
  const count = Number(request.generationConfig?.candidateCount ?? 1);
  const text = behavior.text ?? (behavior.functionCalls ? undefined : "Hello from the fake Gemini upstream.");
  const finishReason = behavior.finishReason ?? "STOP";
  return {
    candidates: Array.from({ length: count }, (_, index) => {
      const parts = [...(text ? [{ text: index === 0 ? text : `${text} (${index + 1})` }] : []), ...functionCallParts(behavior.functionCalls)];
      // A safety stop may come without any content, only ratings.
      return {
        ...(parts.length > 0 ? { content: { parts, role: "model" } } : {}),
        finishReason,
        index,
        ...(finishReason === "SAFETY" ? { safetyRatings: [{ category: "HARM_CATEGORY_HARASSMENT", probability: "HIGH", blocked: true }] } : {}),
      };
    }),
    usageMetadata: usageMetadata(behavior.usage ?? DEFAULT_USAGE),
    modelVersion: behavior.modelVersion ?? model,
    responseId: "fakeResponse01",
  };
}

type StreamEvent = Record<string, unknown>;

function streamEvents(model: string, behavior: Extract<GeminiFakeBehavior, { kind: "stream" }>): StreamEvent[] {
  const chunks = behavior.chunks ?? (behavior.functionCalls ? [] : ["Hello", " from", " the", " fake", " stream."]);
  const usage = behavior.usage ?? DEFAULT_USAGE;
  const base = { modelVersion: model, responseId: "fakeStream01" };
  const events: StreamEvent[] = chunks.map((text, i) => ({
    candidates: [{ content: { parts: [{ text }], role: "model" }, index: 0 }],
    usageMetadata: { promptTokenCount: usage.promptTokenCount, candidatesTokenCount: i + 1, totalTokenCount: usage.promptTokenCount + i + 1 },
    ...base,
  }));
  const calls = functionCallParts(behavior.functionCalls);
  const lastParts = calls.length > 0 ? calls : [{ text: "" }];
  events.push({ candidates: [{ content: { parts: lastParts, role: "model" }, finishReason: behavior.finishReason ?? "STOP", index: 0 }], usageMetadata: usageMetadata(usage), ...base });
  return events;
}

function sseBody(events: StreamEvent[], behavior: { delayMs?: number; errorAfter?: number; dieAfter?: number }): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        for (const [i, event] of events.entries()) {
          if (behavior.errorAfter !== undefined && i >= behavior.errorAfter) {
            controller.enqueue(encoder.encode(`data: ${JSON.stringify({ error: { code: 503, message: "The model is overloaded. Please try again later.", status: "UNAVAILABLE" } })}\r\n\r\n`));
            controller.close();
            return;
          }
          if (behavior.dieAfter !== undefined && i >= behavior.dieAfter) {
            await Bun.sleep(20); // let the bytes sent so far reach the client first
            controller.error(new Error("fake upstream died"));
            return;
          }
          if (behavior.delayMs && i > 0) await Bun.sleep(behavior.delayMs);
          // Gemini frames each event with CRLF line endings.
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(event)}\r\n\r\n`));
        }
        controller.close();
      } catch {
        // the reader went away
      }
    },
  });
}

/** batchEmbedContents: each request names the same model and has text parts. */
function embed(model: string, body: any): Response {
  if (!body || !Array.isArray(body.requests) || body.requests.length === 0) return errorResponse(400, "* BatchEmbedContentsRequest.requests: requests is required");
  for (const key of Object.keys(body)) if (key !== "requests") return errorResponse(400, `Invalid JSON payload received. Unknown name "${key}": Cannot find field.`);
  for (const [i, request] of body.requests.entries()) {
    if (request.model !== `models/${model}`) return errorResponse(400, `* BatchEmbedContentsRequest.requests[${i}].model: model must match the batch model models/${model}`);
    if (!Array.isArray(request.content?.parts) || !request.content.parts.every((part: any) => typeof part.text === "string")) {
      return errorResponse(400, `* BatchEmbedContentsRequest.requests[${i}].content.parts: text parts are required`);
    }
  }
  return Response.json({
    embeddings: body.requests.map((request: any, i: number) => ({
      values: Array.from({ length: request.outputDimensionality ?? 8 }, (_, j) => Number((((i + 1) * (j + 1)) / 100).toFixed(2))),
    })),
  });
}
