// POST /v1/embeddings: charged by input tokens, routed like chat completions.

import type { Server } from "bun";
import { requireScope } from "../keys/permissions";
import type { EmbedResult } from "../providers/types";
import { ApiError } from "../shared/errors";
import { nanoToUsd } from "../shared/money";
import { estimateEmbeddingTokens } from "../shared/tokens";
import type { Runtime } from "../runtime";
import { readJsonObject } from "./body";
import { admitAndHold, costHeaders, finishFailed, finishRequest, isSimulated, resolveRequestedModels, sendOverRoutes } from "./inference";
import { authenticateRequest } from "./request-context";

function validateInput(input: unknown): void {
  const ok =
    typeof input === "string" ||
    (Array.isArray(input) && input.length > 0 && input.every((item) => typeof item === "string" || typeof item === "number" || Array.isArray(item)));
  if (!ok) throw new ApiError({ code: "missing_required_parameter", message: "input must be a string or a non-empty array", param: "input" });
}

export async function handleEmbeddings(runtime: Runtime, request: Request, server: Server<unknown> | null | undefined): Promise<Response> {
  const ctx = authenticateRequest(runtime, request, server);
  requireScope(ctx.key, "inference");
  const body = await readJsonObject(request, runtime.config.server.maxBodyBytes);
  validateInput(body.input);
  const models = resolveRequestedModels(runtime, ctx, body);
  const simulated = isSimulated(runtime, ctx);
  const inputTokens = estimateEmbeddingTokens(body.input);
  const admitted = admitAndHold(runtime, ctx, models, inputTokens, 0, !simulated);
  const signal = request.signal;
  const { models: _fallbacks, ...forwarded } = body;
  void _fallbacks;

  let sent: { result: EmbedResult; attempt: { model: (typeof models)[number]; route: { model: string } }; providerId: string };
  try {
    sent = await sendOverRoutes(runtime, models, simulated, signal, (provider, attempt) => {
      if (!provider.embed) throw new ApiError({ code: "invalid_request", message: `The model '${attempt.model.name}' does not support embeddings`, param: "model" });
      return provider.embed({ body: { ...forwarded, model: attempt.route.model }, signal });
    });
  } catch (error) {
    throw finishFailed(runtime, ctx, admitted, error, { endpoint: "embeddings", model: models[0]!, stream: false, inputTokens, clientGone: request.signal.aborted });
  }
  const { result, attempt, providerId } = sent;
  const usage = result.usage ?? { inputTokens, outputTokens: 0, cachedInputTokens: 0 };
  const settled = finishRequest(runtime, ctx, admitted, {
    endpoint: "embeddings",
    model: attempt.model,
    provider: providerId,
    upstreamModel: result.model,
    stream: false,
    status: 200,
    usage,
    usageSource: result.usage ? "reported" : "estimated",
  });
  const headers: Record<string, string> = {
    ...admitted.rateLimitHeaders,
    "content-type": "application/json",
    "x-request-id": ctx.clientRequestId,
    "x-parrotrouter-provider": providerId,
    "x-parrotrouter-model": attempt.route.model,
    ...costHeaders(runtime, ctx, settled),
  };
  // As on chat completions (OpenRouter's usage accounting): the cost beside the counts.
  const responseUsage = result.body.usage;
  if (responseUsage && typeof responseUsage === "object") (responseUsage as Record<string, unknown>).cost = nanoToUsd(settled.costNanoUsd);
  return new Response(JSON.stringify(result.body), { headers });
}
