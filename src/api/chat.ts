// POST /v1/chat/completions: validate what routing needs, hold credits, forward through the
// routes, and return JSON or pass the SSE stream through as it arrives, settling at its end.

import type { Server } from "bun";
import type { ModelConfig } from "../config/load";
import { requireScope } from "../keys/permissions";
import type { ChatResult, StreamChunk, Usage } from "../providers/types";
import { followAbort } from "../shared/abort";
import { ApiError, toApiError } from "../shared/errors";
import { nanoToUsd } from "../shared/money";
import { estimatePromptTokens, estimateTextTokens } from "../shared/tokens";
import { startStream } from "../routing/stream-start";
import type { Runtime } from "../runtime";
import { readJsonObject } from "./body";
import { admitAndHold, costHeaders, finishFailed, finishRequest, finishRequestGrouped, isSimulated, NO_USAGE, resolveRequestedModels, sendOverRoutes, type Admitted } from "./inference";
import { authenticateRequest, type RequestContext } from "./request-context";

const encoder = new TextEncoder();
const DONE_FRAME = encoder.encode("data: [DONE]\n\n");

/** Fields that are ours (OpenRouter's), not the upstream's. */
const ROUTER_ONLY_FIELDS = ["models"];

/** The body without our own fields; the same object when it has none (the common case, no copy). */
function withoutRouterFields(body: Record<string, unknown>): Record<string, unknown> {
  if (!ROUTER_ONLY_FIELDS.some((field) => field in body)) return body;
  return Object.fromEntries(Object.entries(body).filter(([field]) => !ROUTER_ONLY_FIELDS.includes(field)));
}

function validateChatBody(body: Record<string, unknown>): void {
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw new ApiError({ code: "missing_required_parameter", message: "you must provide a non-empty messages array", param: "messages" });
  }
  for (const [i, message] of body.messages.entries()) {
    if (!message || typeof message !== "object" || typeof (message as { role?: unknown }).role !== "string") {
      throw new ApiError({ code: "invalid_request", message: `messages[${i}] must be an object with a role`, param: `messages[${i}]` });
    }
  }
  for (const field of ["max_tokens", "max_completion_tokens", "n"] as const) {
    const value = body[field];
    if (value !== undefined && value !== null && (!Number.isInteger(value) || (value as number) < 1)) {
      throw new ApiError({ code: "invalid_request", message: `${field} must be a positive integer`, param: field });
    }
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean") {
    throw new ApiError({ code: "invalid_request", message: "stream must be a boolean", param: "stream" });
  }
}

/** The client's output allowance (× n choices), else the model's configured maximum. */
function maxOutputTokensOf(body: Record<string, unknown>, model: ModelConfig): number {
  const requested = (body.max_completion_tokens ?? body.max_tokens) as number | undefined | null;
  const n = typeof body.n === "number" ? body.n : 1;
  return (requested ?? model.maxOutputTokens) * n;
}

export async function handleChatCompletion(runtime: Runtime, request: Request, server: Server<unknown> | null | undefined): Promise<Response> {
  const ctx = authenticateRequest(runtime, request, server);
  requireScope(ctx.key, "inference");
  const body = await readJsonObject(request, runtime.config.server.maxBodyBytes);
  validateChatBody(body);
  const models = resolveRequestedModels(runtime, ctx, body);
  const simulated = isSimulated(runtime, ctx);
  const inputTokens = estimatePromptTokens(body);
  const maxOutputTokens = maxOutputTokensOf(body, models[0]!);
  const admitted = admitAndHold(runtime, ctx, models, inputTokens, maxOutputTokens, !simulated);
  const stream = body.stream === true;
  const clientWantsUsage = stream && (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;

  // The upstream stops generating (and costing) as soon as the client goes away.
  // A stream also stops when its reader cancels, so it gets a controller of its own.
  const abort = stream ? followAbort(request.signal, new AbortController()) : null;
  const signal = abort?.signal ?? request.signal;
  const forwarded = withoutRouterFields(body);

  let sent: { result: ChatResult; attempt: { model: ModelConfig; route: { model: string } }; providerId: string };
  try {
    sent = await sendOverRoutes(runtime, models, simulated, signal, (provider, attempt) => {
      const answered = provider.chat({ body: { ...forwarded, model: attempt.route.model }, stream, signal });
      // A stream that fails before its first content still falls back (see startStream).
      return stream ? answered.then(startStream) : answered;
    });
  } catch (error) {
    throw finishFailed(runtime, ctx, admitted, error, { endpoint: "chat.completions", model: models[0]!, stream, inputTokens, clientGone: request.signal.aborted });
  }

  const { result, attempt, providerId } = sent;
  const headers: Record<string, string> = {
    ...admitted.rateLimitHeaders,
    "x-request-id": ctx.clientRequestId,
    "x-parrotrouter-provider": providerId,
    "x-parrotrouter-model": attempt.route.model,
  };

  if (result.kind === "json") {
    const usage = result.usage ?? estimatedUsage(inputTokens, JSON.stringify(result.body.choices ?? ""), maxOutputTokens);
    // Group commit: answered only once its charge and usage row are committed.
    const settled = await finishRequestGrouped(runtime, ctx, admitted, {
      endpoint: "chat.completions",
      model: attempt.model,
      provider: providerId,
      upstreamModel: result.model,
      stream: false,
      status: 200,
      usage,
      usageSource: result.usage ? "reported" : "estimated",
    });
    const responseBody = result.body;
    if (responseBody.usage && typeof responseBody.usage === "object") {
      (responseBody.usage as Record<string, unknown>).cost = nanoToUsd(settled.costNanoUsd);
    }
    return new Response(JSON.stringify(responseBody), { headers: { ...headers, ...costHeaders(runtime, ctx, settled), "content-type": "application/json" } });
  }

  // Bun closes connections idle for 10 s; a slow model's stream must not be cut off.
  server?.timeout(request, 0);
  return new Response(
    streamToClient(result.chunks, {
      clientWantsUsage,
      cancelUpstream: () => abort?.abort(),
      clientGone: () => request.signal.aborted,
      finish: (status, usage, usageSource) =>
        finishRequest(runtime, ctx, admitted, {
          endpoint: "chat.completions",
          model: attempt.model,
          provider: providerId,
          upstreamModel: attempt.route.model,
          stream: true,
          status,
          usage: usage ?? NO_USAGE,
          usageSource,
        }),
      inputTokens,
      maxOutputTokens,
    }),
    { headers: { ...headers, "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" } },
  );
}

/**
 * Usage when the upstream reported none: the prompt estimate and the text's tokens, at most the
 * output allowance the hold was computed from, so an estimated charge never exceeds the hold
 * (an upstream ignoring max_tokens, or junk in the text, would otherwise be billed in full).
 * A count the upstream *reports* is billed as reported, even past the hold: the provider bills
 * us for those tokens, and the hold only bounds what we may guess.
 */
function estimatedUsage(inputTokens: number, text: string, maxOutputTokens: number): Usage {
  return { inputTokens, outputTokens: Math.min(estimateTextTokens(text), maxOutputTokens), cachedInputTokens: 0 };
}

interface StreamOptions {
  clientWantsUsage: boolean;
  cancelUpstream: () => void;
  clientGone: () => boolean;
  inputTokens: number;
  /** The output allowance the hold covers: the most an estimate may charge for. */
  maxOutputTokens: number;
  finish: (status: number, usage: Usage, source: "reported" | "estimated") => void;
}

/**
 * Frames chunks as SSE as they arrive. Whatever way the stream ends — done, client gone,
 * upstream failure — it settles exactly once, from the upstream's usage or, failing that,
 * from the text that was streamed.
 */
function streamToClient(chunks: AsyncIterable<StreamChunk>, options: StreamOptions): ReadableStream<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  let streamedText = "";
  let reported: Usage | undefined;
  let finished = false;

  const finish = (status: number) => {
    if (finished) return;
    finished = true;
    if (reported) options.finish(status, reported, "reported");
    else options.finish(status, estimatedUsage(options.inputTokens, streamedText, options.maxOutputTokens), "estimated");
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        while (true) {
          const next = await iterator.next();
          if (next.done) {
            // Settle before the final frame: a client that saw [DONE] has been charged,
            // even if the process dies right after.
            finish(200);
            controller.enqueue(DONE_FRAME);
            controller.close();
            return;
          }
          const chunk = next.value;
          streamedText += chunk.textDelta;
          if (chunk.usage) reported = chunk.usage;
          if (chunk.usageOnly && !options.clientWantsUsage) continue;
          controller.enqueue(encoder.encode(`data: ${chunk.data}\n\n`));
          return;
        }
      } catch (error) {
        if (options.clientGone() || finished) {
          finish(499);
          controller.close();
          return;
        }
        // No fallback once bytes have flowed: tell the client plainly, then end cleanly.
        const apiError = toApiError(error);
        controller.enqueue(encoder.encode(`event: error\ndata: ${JSON.stringify(apiError.toBody())}\n\n`));
        controller.enqueue(DONE_FRAME);
        controller.close();
        finish(apiError.status);
      }
    },
    cancel() {
      options.cancelUpstream();
      iterator.return?.().catch(() => {});
      finish(499);
    },
  });
}
