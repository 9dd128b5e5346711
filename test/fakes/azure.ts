// A fake Azure OpenAI resource on a free local port: deployment URLs with `?api-version=`,
// the `api-key` header, OpenAI bodies with Azure's content-filter annotations, streams that
// open with a `prompt_filter_results` chunk, and Azure's error bodies.

import type { RecordedRequest } from "./openai";

export type { RecordedRequest };

/** How the fake answers one request. Without a queued behavior: `stream` if asked, else `ok`. */
export type AzureFakeBehavior =
  | {
      kind: "ok";
      text?: string;
      /** Tool calls in the message (arguments are JSON strings, as OpenAI sends them). */
      toolCalls?: { id?: string; name: string; arguments: string }[];
      finishReason?: string;
      usage?: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number };
      model?: string;
    }
  /** Streams `chunks` (`delayMs` apart); the usage chunk comes only with `stream_options.include_usage`. `dieAfter` drops the connection. */
  | { kind: "stream"; chunks?: string[]; finishReason?: string; delayMs?: number; dieAfter?: number }
  /** Azure's 400 when the prompt trips the content filter (`code: content_filter`). */
  | { kind: "contentFilter" }
  /** An HTTP error with Azure's body `{error: {code, message}}`. */
  | { kind: "error"; status: number; code?: string; message?: string; headers?: Record<string, string> }
  /** Never answers (until the fake is closed). */
  | { kind: "hang" };

export interface FakeAzure {
  /** The resource endpoint to configure as `base_url` (the adapter adds `/openai/deployments/…`). */
  url: string;
  port: number;
  /** The key the fake accepts in `api-key`. */
  apiKey: string;
  /** Every request received, valid or not; `path` includes the query. */
  requests: RecordedRequest[];
  /** Answers the next requests with these behaviors, in order, then falls back to the default. */
  enqueue(...behaviors: AzureFakeBehavior[]): void;
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const SAFE = { filtered: false, severity: "safe" };
const FILTER_RESULTS = { hate: SAFE, self_harm: SAFE, sexual: SAFE, violence: SAFE };
const PROMPT_FILTER = [{ prompt_index: 0, content_filter_results: FILTER_RESULTS }];
const UNDERLYING_MODEL = "gpt-4o-2024-08-06";

function azureError(status: number, code: string, message: string, extra: Record<string, unknown> = {}, headers?: Record<string, string>): Response {
  return Response.json({ error: { code, message, ...extra } }, { status, headers });
}

/**
 * Starts the fake. Requests must carry `api-key: <apiKey>` (default "azure-fake-key") and an
 * `api-version` query; `deployments`, when given, are the only deployment names that exist.
 */
export function startFakeAzure(options: { apiKey?: string; deployments?: string[] } = {}): FakeAzure {
  const apiKey = options.apiKey ?? "azure-fake-key";
  const requests: RecordedRequest[] = [];
  const queue: AzureFakeBehavior[] = [];

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
      requests.push({ method: request.method, path: url.pathname + url.search, headers: Object.fromEntries(request.headers), body });

      const route = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(url.pathname);
      // Azure answers a missing api-version (and any unknown path) with this bare 404.
      if (request.method !== "POST" || !route || !url.searchParams.get("api-version")) return azureError(404, "404", "Resource not found");
      if (request.headers.get("api-key") !== apiKey) {
        return azureError(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.");
      }
      const deployment = decodeURIComponent(route[1]!);
      if (options.deployments && !options.deployments.includes(deployment)) {
        return azureError(404, "DeploymentNotFound", "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.");
      }
      if (!body || typeof body !== "object") return azureError(400, "BadRequest", "The request body must be a JSON object.");
      if ("api-version" in body) return azureError(400, "BadRequest", "Unrecognized request argument supplied: api-version");
      if (route[2] === "embeddings") return embeddings(body);

      if (!Array.isArray(body.messages) || body.messages.length === 0) {
        return azureError(400, "BadRequest", "'messages' is a required property", { param: "messages", type: "invalid_request_error" });
      }
      if (body.stream_options !== undefined && body.stream !== true) {
        return azureError(400, "BadRequest", "The 'stream_options' parameter is only allowed when 'stream' is enabled.", { param: "stream_options" });
      }
      const behavior = queue.shift() ?? (body.stream ? { kind: "stream" as const } : { kind: "ok" as const });
      if (behavior.kind === "hang") return new Promise<Response>(() => {});
      if (behavior.kind === "error") {
        return azureError(behavior.status, behavior.code ?? String(behavior.status), behavior.message ?? `fake Azure error ${behavior.status}`, {}, behavior.headers);
      }
      if (behavior.kind === "contentFilter") {
        return azureError(400, "content_filter", "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.", {
          param: "prompt",
          status: 400,
          innererror: { code: "ResponsibleAIPolicyViolation", content_filter_result: { ...FILTER_RESULTS, violence: { filtered: true, severity: "high" } } },
        });
      }
      if (behavior.kind === "ok") {
        if (body.stream) return new Response("fake: queued an ok answer for a stream request", { status: 500 });
        return Response.json(completion(behavior));
      }
      if (!body.stream) return new Response("fake: queued a stream answer for a non-stream request", { status: 500 });
      return new Response(streamBody(behavior, body.stream_options?.include_usage === true), {
        headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
      });
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

function completion(behavior: Extract<AzureFakeBehavior, { kind: "ok" }>) {
  const usage = behavior.usage ?? { prompt_tokens: 12, completion_tokens: 5 };
  const toolCalls = behavior.toolCalls?.map((call, i) => ({ id: call.id ?? `call_fake${i + 1}`, type: "function", function: { name: call.name, arguments: call.arguments } }));
  return {
    id: "chatcmpl-azurefake01",
    object: "chat.completion",
    created: 1730000000,
    model: behavior.model ?? UNDERLYING_MODEL,
    prompt_filter_results: PROMPT_FILTER,
    choices: [
      {
        index: 0,
        finish_reason: behavior.finishReason ?? (toolCalls ? "tool_calls" : "stop"),
        logprobs: null,
        message: {
          role: "assistant",
          content: behavior.text ?? (toolCalls ? null : "Hello from the fake Azure deployment."),
          refusal: null,
          ...(toolCalls ? { tool_calls: toolCalls } : {}),
        },
        content_filter_results: FILTER_RESULTS,
      },
    ],
    system_fingerprint: "fp_azurefake",
    usage: {
      prompt_tokens: usage.prompt_tokens,
      completion_tokens: usage.completion_tokens,
      total_tokens: usage.prompt_tokens + usage.completion_tokens,
      prompt_tokens_details: { cached_tokens: usage.cached_tokens ?? 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
  };
}

function streamBody(behavior: Extract<AzureFakeBehavior, { kind: "stream" }>, includeUsage: boolean): ReadableStream<Uint8Array> {
  const chunks = behavior.chunks ?? ["Hello", " from", " the", " fake", " Azure", " stream."];
  const base = { id: "chatcmpl-azurefakestream", object: "chat.completion.chunk", created: 1730000000, model: UNDERLYING_MODEL, system_fingerprint: "fp_azurefake" };
  const frame = (data: unknown) => encoder.encode(`data: ${JSON.stringify(data)}\n\n`);
  const choice = (delta: unknown, finish: string | null) => ({ index: 0, delta, finish_reason: finish, logprobs: null, content_filter_results: finish ? {} : FILTER_RESULTS });
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      try {
        // Azure's first chunk: empty id, model and choices, only the prompt's filter results.
        controller.enqueue(frame({ choices: [], created: 0, id: "", model: "", object: "", prompt_filter_results: PROMPT_FILTER, usage: null }));
        controller.enqueue(frame({ ...base, choices: [choice({ role: "assistant", content: "", refusal: null }, null)], usage: null }));
        for (const [i, chunk] of chunks.entries()) {
          if (behavior.dieAfter !== undefined && i >= behavior.dieAfter) {
            await Bun.sleep(20); // let the bytes sent so far reach the client first
            controller.error(new Error("fake upstream died"));
            return;
          }
          if (behavior.delayMs) await Bun.sleep(behavior.delayMs);
          controller.enqueue(frame({ ...base, choices: [choice({ content: chunk }, null)], usage: null }));
        }
        controller.enqueue(frame({ ...base, choices: [choice({}, behavior.finishReason ?? "stop")], usage: null }));
        if (includeUsage) {
          controller.enqueue(frame({ ...base, choices: [], usage: { prompt_tokens: 12, completion_tokens: chunks.length, total_tokens: 12 + chunks.length, prompt_tokens_details: { cached_tokens: 0 } } }));
        }
        controller.enqueue(encoder.encode("data: [DONE]\n\n"));
        controller.close();
      } catch {
        // the reader went away
      }
    },
  });
}

function embeddings(body: any): Response {
  if (body.input === undefined) return azureError(400, "BadRequest", "'input' is a required property", { param: "input" });
  const inputs = Array.isArray(body.input) && typeof body.input[0] !== "number" ? body.input : [body.input];
  return Response.json({
    object: "list",
    // Like OpenAI, Azure answers base64 (little-endian float32) when asked, as the openai SDK does by default.
    data: inputs.map((_: unknown, index: number) => ({
      object: "embedding",
      index,
      embedding: body.encoding_format === "base64" ? Buffer.from(new Float32Array([0.25, -0.5, 0.75]).buffer).toString("base64") : [0.25, -0.5, 0.75],
    })),
    model: "text-embedding-3-small",
    usage: { prompt_tokens: 4 * inputs.length, total_tokens: 4 * inputs.length },
  });
}
