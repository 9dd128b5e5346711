// A fake Anthropic Messages API on a free local port. It checks requests the way the real
// API does (headers, required fields, turn order, tool pairing, no unknown fields) and
// answers with real message bodies, `event:`/`data:` SSE streams and error bodies.

import type { RecordedRequest } from "./openai";

export type { RecordedRequest };

/** Token counts as Anthropic reports them. */
export interface AnthropicFakeUsage {
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

/** A tool the fake "decides" to call; `input` is the tool's arguments object. */
export interface AnthropicFakeToolCall {
  name: string;
  input: Record<string, unknown>;
  /** Defaults to `toolu_fake<n>`. */
  id?: string;
}

/** How the fake answers one request. Without a queued behavior: `stream` if asked, else `ok`. */
export type AnthropicFakeBehavior =
  /** A message; `toolCalls` add tool_use blocks and make stop_reason `tool_use`. */
  | { kind: "ok"; text?: string; toolCalls?: AnthropicFakeToolCall[]; stopReason?: string; usage?: AnthropicFakeUsage; model?: string }
  /**
   * An SSE stream of `chunks` text deltas (`delayMs` apart), then `toolCalls` as tool_use blocks
   * whose input JSON arrives in two input_json_delta pieces. `errorAfter` sends an `event: error`
   * (`errorType`, default overloaded_error) after that many text deltas; `dieAfter` drops the
   * connection instead.
   */
  | {
      kind: "stream";
      chunks?: string[];
      toolCalls?: AnthropicFakeToolCall[];
      stopReason?: string;
      usage?: AnthropicFakeUsage;
      delayMs?: number;
      errorAfter?: number;
      errorType?: string;
      dieAfter?: number;
    }
  /** An HTTP error with Anthropic's body `{type:"error", error:{type, message}}`; 529 is overloaded. */
  | { kind: "error"; status: number; errorType?: string; message?: string; headers?: Record<string, string> }
  /** Never answers (until the fake is closed). */
  | { kind: "hang" };

export interface FakeAnthropic {
  /** Base URL to configure as the provider's `base_url` (no `/v1`; the adapter adds it). */
  url: string;
  port: number;
  /** The key the fake accepts in `x-api-key`. */
  apiKey: string;
  /** Every request received, valid or not, in order. */
  requests: RecordedRequest[];
  /** Answers the next requests with these behaviors, in order, then falls back to the default. */
  enqueue(...behaviors: AnthropicFakeBehavior[]): void;
  close(): Promise<void>;
}

const DEFAULT_MODEL = "claude-sonnet-4-5-20250929";
const DEFAULT_USAGE: AnthropicFakeUsage = { input_tokens: 12, output_tokens: 6 };
/** Top-level fields the Messages API accepts; anything else is "Extra inputs are not permitted". */
const KNOWN_FIELDS = new Set([
  "model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream", "temperature",
  "top_p", "top_k", "tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers",
]);

const encoder = new TextEncoder();

function errorBody(type: string, message: string) {
  return { type: "error", error: { type, message }, request_id: `req_fake${Date.now()}` };
}
const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
  413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
};

/** Returns what is wrong with a Messages API request, or null when Anthropic would take it. */
export function checkAnthropicRequest(headers: Headers, body: any, apiKey: string): { status: number; type: string; message: string } | null {
  if (headers.get("x-api-key") !== apiKey) return { status: 401, type: "authentication_error", message: "invalid x-api-key" };
  if (!headers.get("anthropic-version")) return { status: 400, type: "invalid_request_error", message: "anthropic-version: header is required" };
  const bad = (message: string) => ({ status: 400, type: "invalid_request_error", message });
  if (!body || typeof body !== "object") return bad("request body must be a JSON object");
  for (const key of Object.keys(body)) if (!KNOWN_FIELDS.has(key)) return bad(`${key}: Extra inputs are not permitted`);
  if (typeof body.model !== "string") return bad("model: Field required");
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) return bad("max_tokens: Field required");
  if (body.system !== undefined && typeof body.system !== "string" && !Array.isArray(body.system)) return bad("system: Input should be a valid string or list");
  if (body.temperature !== undefined && (body.temperature < 0 || body.temperature > 1)) return bad("temperature: Input should be less than or equal to 1");
  if (body.temperature !== undefined && body.top_p !== undefined) return bad("`temperature` and `top_p` cannot both be specified for this model. Please use only one.");
  if (!Array.isArray(body.messages) || body.messages.length === 0) return bad("messages: at least one message is required");
  let previousToolUses: string[] = [];
  for (const [i, message] of body.messages.entries()) {
    if (message.role !== "user" && message.role !== "assistant") return bad(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    if (i === 0 && message.role !== "user") return bad("messages: first message must use the \"user\" role");
    if (i > 0 && body.messages[i - 1].role === message.role) return bad("messages: roles must alternate between \"user\" and \"assistant\"");
    const blocks = typeof message.content === "string" ? [{ type: "text", text: message.content }] : message.content;
    if (!Array.isArray(blocks) || blocks.length === 0) return bad(`messages.${i}: all messages must have non-empty content`);
    const results: string[] = [];
    for (const [j, block] of blocks.entries()) {
      const where = `messages.${i}.content.${j}`;
      if (block.type === "text" && (typeof block.text !== "string" || block.text === "")) return bad(`${where}: text content blocks must be non-empty`);
      if (block.type === "image") {
        const source = block.source ?? {};
        if (source.type === "base64" && !(["image/jpeg", "image/png", "image/gif", "image/webp"].includes(source.media_type) && source.data)) return bad(`${where}.source: invalid base64 image source`);
        if (source.type === "url" && !/^https?:\/\//.test(source.url ?? "")) return bad(`${where}.source.url: invalid url`);
        if (source.type !== "base64" && source.type !== "url") return bad(`${where}.source.type: invalid`);
      }
      if (block.type === "tool_use" && (message.role !== "assistant" || !block.id || !block.name || typeof block.input !== "object")) return bad(`${where}: invalid tool_use block`);
      if (block.type === "tool_result") {
        if (message.role !== "user") return bad(`${where}: tool_result blocks must be in a user message`);
        if (j !== results.length) return bad(`${where}: tool_result blocks must come first in the user message`);
        if (!previousToolUses.includes(block.tool_use_id)) return bad(`${where}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${block.tool_use_id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`);
        results.push(block.tool_use_id);
      }
      if (!["text", "image", "document", "tool_use", "tool_result", "thinking"].includes(block.type)) return bad(`${where}.type: unknown block type ${block.type}`);
    }
    const missing = previousToolUses.filter((id) => !results.includes(id));
    if (missing.length > 0) return bad(`messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(", ")}`);
    previousToolUses = message.role === "assistant" ? blocks.filter((b: any) => b.type === "tool_use").map((b: any) => b.id) : [];
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) return bad("tools: Input should be a valid list");
    for (const [i, tool] of body.tools.entries()) {
      if (typeof tool.name !== "string" || tool.input_schema?.type !== "object") return bad(`tools.${i}: name and input_schema of type object are required`);
    }
  }
  if (body.tool_choice !== undefined && !["auto", "any", "tool", "none"].includes(body.tool_choice?.type)) return bad("tool_choice: invalid type");
  if (body.tool_choice?.type === "tool" && !body.tools?.some((t: any) => t.name === body.tool_choice.name)) return bad("tool_choice: tool not found");
  return null;
}

/**
 * Starts the fake. Requests must carry `x-api-key: <apiKey>` (default "sk-ant-fake") and an
 * `anthropic-version` header, like the real API.
 */
export function startFakeAnthropic(options: { apiKey?: string } = {}): FakeAnthropic {
  const apiKey = options.apiKey ?? "sk-ant-fake";
  const requests: RecordedRequest[] = [];
  const queue: AnthropicFakeBehavior[] = [];

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
      requests.push({ method: request.method, path: url.pathname, headers: Object.fromEntries(request.headers), body });
      if (request.method !== "POST" || url.pathname !== "/v1/messages") {
        return Response.json(errorBody("not_found_error", "Not found"), { status: 404 });
      }
      const problem = checkAnthropicRequest(request.headers, body, apiKey);
      if (problem) return Response.json(errorBody(problem.type, problem.message), { status: problem.status });

      const behavior = queue.shift() ?? (body.stream ? { kind: "stream" as const } : { kind: "ok" as const });
      if (behavior.kind === "hang") return new Promise<Response>(() => {});
      if (behavior.kind === "error") {
        const type = behavior.errorType ?? ERROR_TYPES[behavior.status] ?? "api_error";
        return Response.json(errorBody(type, behavior.message ?? (type === "overloaded_error" ? "Overloaded" : `fake ${type}`)), {
          status: behavior.status,
          headers: behavior.headers,
        });
      }
      if (behavior.kind === "ok") {
        if (body.stream) return new Response("fake: queued an ok answer for a stream request", { status: 500 });
        return Response.json(message(body, behavior));
      }
      if (!body.stream) return new Response("fake: queued a stream answer for a non-stream request", { status: 500 });
      return new Response(streamBody(body, behavior), { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" } });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port!,
    apiKey,
    requests,
    enqueue: (...behaviors) => queue.push(...behaviors),
    close: async () => {
      server.stop(true);
    },
  };
}

function usageOf(usage: AnthropicFakeUsage | undefined) {
  const u = usage ?? DEFAULT_USAGE;
  return {
    input_tokens: u.input_tokens,
    cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
    output_tokens: u.output_tokens,
    service_tier: "standard",
  };
}

function message(request: any, behavior: Extract<AnthropicFakeBehavior, { kind: "ok" }>) {
  const content: unknown[] = [];
  const text = behavior.text ?? (behavior.toolCalls ? undefined : "Hello from the fake Anthropic upstream.");
  if (text) content.push({ type: "text", text });
  behavior.toolCalls?.forEach((call, i) => content.push({ type: "tool_use", id: call.id ?? `toolu_fake${i + 1}`, name: call.name, input: call.input }));
  return {
    id: "msg_fake01",
    type: "message",
    role: "assistant",
    model: behavior.model ?? request.model ?? DEFAULT_MODEL,
    content,
    stop_reason: behavior.stopReason ?? (behavior.toolCalls ? "tool_use" : "end_turn"),
    stop_sequence: null,
    usage: usageOf(behavior.usage),
  };
}

function streamBody(request: any, behavior: Extract<AnthropicFakeBehavior, { kind: "stream" }>): ReadableStream<Uint8Array> {
  const chunks = behavior.chunks ?? (behavior.toolCalls ? [] : ["Hello", " from", " the", " fake", " stream."]);
  const usage = usageOf(behavior.usage);
  const send = (controller: ReadableStreamDefaultController<Uint8Array>, event: string, data: unknown) =>
    controller.enqueue(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));

  return new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        send(controller, "message_start", {
          type: "message_start",
          message: {
            id: "msg_fakestream01", type: "message", role: "assistant", model: request.model ?? DEFAULT_MODEL, content: [],
            stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 },
          },
        });
        let block = 0;
        if (chunks.length > 0) {
          send(controller, "content_block_start", { type: "content_block_start", index: block, content_block: { type: "text", text: "" } });
          send(controller, "ping", { type: "ping" });
          for (const [i, chunk] of chunks.entries()) {
            if (behavior.errorAfter !== undefined && i >= behavior.errorAfter) {
              const type = behavior.errorType ?? "overloaded_error";
              send(controller, "error", { type: "error", error: { type, message: type === "overloaded_error" ? "Overloaded" : `fake ${type}` } });
              controller.close();
              return;
            }
            if (behavior.dieAfter !== undefined && i >= behavior.dieAfter) {
              await Bun.sleep(20); // let the bytes sent so far reach the client first
              controller.error(new Error("fake upstream died"));
              return;
            }
            if (behavior.delayMs) await Bun.sleep(behavior.delayMs);
            send(controller, "content_block_delta", { type: "content_block_delta", index: block, delta: { type: "text_delta", text: chunk } });
          }
          send(controller, "content_block_stop", { type: "content_block_stop", index: block });
          block++;
        }
        for (const [i, call] of (behavior.toolCalls ?? []).entries()) {
          const json = JSON.stringify(call.input);
          const half = Math.ceil(json.length / 2);
          send(controller, "content_block_start", {
            type: "content_block_start", index: block, content_block: { type: "tool_use", id: call.id ?? `toolu_fake${i + 1}`, name: call.name, input: {} },
          });
          // Anthropic opens tool input with an empty partial_json, then streams the JSON in pieces.
          for (const piece of ["", json.slice(0, half), json.slice(half)]) {
            send(controller, "content_block_delta", { type: "content_block_delta", index: block, delta: { type: "input_json_delta", partial_json: piece } });
          }
          send(controller, "content_block_stop", { type: "content_block_stop", index: block });
          block++;
        }
        send(controller, "message_delta", {
          type: "message_delta",
          delta: { stop_reason: behavior.stopReason ?? (behavior.toolCalls ? "tool_use" : "end_turn"), stop_sequence: null },
          usage: { input_tokens: usage.input_tokens, cache_creation_input_tokens: usage.cache_creation_input_tokens, cache_read_input_tokens: usage.cache_read_input_tokens, output_tokens: usage.output_tokens },
        });
        send(controller, "message_stop", { type: "message_stop" });
        controller.close();
      } catch {
        // the reader went away
      }
    },
  });
}
