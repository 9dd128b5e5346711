// The steps chat and embeddings share: pick the models a request may use, admit it under
// the key's rate limits, hold its worst-case cost, and settle + log it when it ends.

import type { ModelConfig } from "../config/load";
import type { RequestRecord } from "../credits/ledger-repository";
import type { Hold } from "../credits/service";
import { worstCaseCost } from "../credits/pricing";
import { isModelAllowed, requireModelAllowed } from "../keys/permissions";
import { effectiveLimits, type Admission } from "../keys/rate-limit";
import type { Provider, Usage } from "../providers/types";
import { resolveModel, type RouteAttempt } from "../routing/router";
import { ApiError, toApiError } from "../shared/errors";
import { nanoToUsd, nanoToUsdString } from "../shared/money";
import type { Runtime } from "../runtime";
import type { RequestContext } from "./request-context";

/**
 * The models a request names, in the order to try them: `model`, then OpenRouter's
 * `models: [...]` fallbacks. Unknown → 404, not allowed for this key → 403.
 */
export function resolveRequestedModels(runtime: Runtime, ctx: RequestContext, body: Record<string, unknown>): ModelConfig[] {
  if (typeof body.model !== "string" || body.model === "") {
    throw new ApiError({ code: "missing_required_parameter", message: "you must provide a model parameter", param: "model" });
  }
  const names = [body.model];
  if (body.models !== undefined) {
    if (!Array.isArray(body.models) || !body.models.every((m) => typeof m === "string")) {
      throw new ApiError({ code: "invalid_request", message: "models must be an array of model names", param: "models" });
    }
    for (const name of body.models as string[]) if (!names.includes(name)) names.push(name);
  }
  const models: ModelConfig[] = [];
  for (const name of names) {
    const model = resolveModel(runtime.config, name);
    if (!model) {
      if (name === body.model) {
        throw new ApiError({ code: "model_not_found", message: `The model '${name}' does not exist or you do not have access to it.`, param: "model" });
      }
      continue; // an unknown fallback is skipped, as OpenRouter does
    }
    if (name === body.model) requireModelAllowed(ctx.key, name);
    else if (!isModelAllowed(ctx.key, name)) continue;
    models.push(model);
  }
  return models;
}

/** True when the request is answered by the simulator (test keys in simulate mode). */
export function isSimulated(runtime: Runtime, ctx: RequestContext): boolean {
  return ctx.key.env === "test" && runtime.config.testKeys === "simulate";
}

export interface Admitted {
  hold: Hold;
  admission: Admission | null;
  rateLimitHeaders: Record<string, string>;
}

/** Rate limits first (a refusal costs nothing), then the credit hold. */
export function admitAndHold(
  runtime: Runtime,
  ctx: RequestContext,
  models: ModelConfig[],
  inputTokens: number,
  maxOutputTokens: number,
  charge: boolean,
): Admitted {
  const now = runtime.clock.now();
  const limits = effectiveLimits(ctx.key, runtime.config.rateLimits);
  let admission: Admission | null = null;
  let rateLimitHeaders: Record<string, string> = {};
  if (limits.rpm || limits.tpm) {
    const result = runtime.rateLimiter.admit(ctx.key.lineageId, limits, inputTokens + maxOutputTokens, now);
    if ("retryAfterMs" in result) {
      throw new ApiError({
        code: "rate_limit_exceeded",
        message: `Rate limit reached for this key (${limits.rpm ? `${limits.rpm} requests` : ""}${limits.rpm && limits.tpm ? ", " : ""}${limits.tpm ? `${limits.tpm} tokens` : ""} per minute). Please try again in ${Math.ceil(result.retryAfterMs / 1000)}s.`,
        headers: { ...result.headers, "retry-after": String(Math.max(1, Math.ceil(result.retryAfterMs / 1000))) },
      });
    }
    admission = result;
    rateLimitHeaders = result.headers;
  }
  // With fallback models the hold must cover the priciest one that may answer.
  const model = models.reduce((a, b) =>
    worstCaseCost(inputTokens, maxOutputTokens, b.pricing) > worstCaseCost(inputTokens, maxOutputTokens, a.pricing) ? b : a,
  );
  try {
    const hold = runtime.credits.placeHold({ key: ctx.key, model, inputTokens, maxOutputTokens, charge }, now);
    // From here every exit settles through finishRequest, which writes the log line.
    ctx.loggedAtFinish = true;
    return { hold, admission, rateLimitHeaders };
  } catch (error) {
    // Refused for credits: its tokens go back (server.ts reports the budget on the answer).
    admission?.settleTokens(0, now);
    throw error;
  }
}

/**
 * Thrown when the client went away while an attempt was in flight. Unlike an upstream failure
 * this is not free: the upstream had the prompt by then, and bills it.
 */
export class ClientGone extends Error {
  constructor(readonly attempt: RouteAttempt) {
    super("Client closed the request");
  }

  /** The provider that had the prompt ("simulator" for the simulator). */
  get providerId(): string {
    return this.attempt.route.provider;
  }
}

/**
 * One attempt; the client leaving during it becomes ClientGone. An upstream attempt (`measured`)
 * also gets its metrics: time to its result on success, an error count on failure. One async
 * step for both, since every request pays for each one.
 */
async function attemptOnce<T>(runtime: Runtime, signal: AbortSignal, attempt: RouteAttempt, measured: boolean, send: () => Promise<T>): Promise<T> {
  const providerId = attempt.route.provider;
  // Gone before anything was forwarded (during a retry's backoff, say): nothing was read.
  if (signal.aborted) throw signal.reason;
  const started = performance.now();
  try {
    const result = await send();
    if (measured) runtime.metrics.upstreamFirstByteOf(providerId).observe((performance.now() - started) / 1000);
    return result;
  } catch (error) {
    if (measured) {
      const code = error instanceof ApiError ? error.code : "aborted";
      runtime.metrics.upstreamErrors.inc({ provider: providerId, code });
      runtime.logger.debug("upstream attempt failed", { provider: providerId, model: attempt.route.model, code });
    }
    throw signal.aborted ? new ClientGone(attempt) : error;
  }
}

/** Sends through the routes of `models` (or the simulator), with retries and fallback. */
export async function sendOverRoutes<T>(
  runtime: Runtime,
  models: ModelConfig[],
  simulated: boolean,
  signal: AbortSignal,
  send: (provider: Provider, attempt: RouteAttempt) => Promise<T>,
): Promise<{ result: T; attempt: RouteAttempt; providerId: string }> {
  if (simulated) {
    const attempt: RouteAttempt = { model: models[0]!, route: { provider: "simulator", model: models[0]!.name, weight: 1 } };
    return { result: await attemptOnce(runtime, signal, attempt, false, () => send(runtime.simulator, attempt)), attempt, providerId: "simulator" };
  }
  const { result, attempt } = await runtime.router.run(models, signal, (attempt) => {
    const provider = runtime.providers.get(attempt.route.provider);
    if (!provider) throw new ApiError({ code: "upstream_unavailable", message: `Provider ${attempt.route.provider} is not configured` });
    return attemptOnce(runtime, signal, attempt, true, () => send(provider, attempt));
  });
  return { result, attempt, providerId: attempt.route.provider };
}

export interface Outcome {
  endpoint: "chat.completions" | "embeddings";
  model: ModelConfig;
  provider: string | null;
  upstreamModel: string | null;
  stream: boolean;
  status: number;
  usage: Usage;
  usageSource: "reported" | "estimated" | "none";
}

type Settled = { costNanoUsd: number; balanceNanoUsd: number | null };

/** Settles the hold with the real cost, records usage and writes the request's log line. */
export function finishRequest(runtime: Runtime, ctx: RequestContext, admitted: Admitted, outcome: Outcome): Settled {
  const finishing = beginFinish(runtime, ctx, admitted, outcome);
  let settled: Settled = { costNanoUsd: 0, balanceNanoUsd: null };
  try {
    settled = runtime.credits.settle(admitted.hold, finishing.record, outcome.usage, outcome.model);
  } catch (error) {
    runtime.logger.error("settlement failed", { request_id: ctx.requestId, error: String(error) });
  }
  return endFinish(runtime, ctx, outcome, finishing, settled);
}

/**
 * `finishRequest` through the group commit: the write shares a transaction with the requests
 * finishing alongside it, and this resolves once it has committed.
 */
export async function finishRequestGrouped(runtime: Runtime, ctx: RequestContext, admitted: Admitted, outcome: Outcome): Promise<Settled> {
  const finishing = beginFinish(runtime, ctx, admitted, outcome);
  let settled: Settled = { costNanoUsd: 0, balanceNanoUsd: null };
  try {
    settled = await runtime.credits.settleGrouped(admitted.hold, finishing.record, outcome.usage, outcome.model);
  } catch (error) {
    runtime.logger.error("settlement failed", { request_id: ctx.requestId, error: String(error) });
  }
  return endFinish(runtime, ctx, outcome, finishing, settled);
}

/**
 * Settles a request that got no answer and returns the error to throw. An upstream failure
 * (5xx, timeout, refused) costs nothing; a client that left mid-attempt is charged the
 * estimated prompt the upstream had already read.
 */
export function finishFailed(
  runtime: Runtime,
  ctx: RequestContext,
  admitted: Admitted,
  error: unknown,
  failed: { endpoint: Outcome["endpoint"]; model: ModelConfig; stream: boolean; inputTokens: number; clientGone: boolean },
): ApiError {
  const gone = error instanceof ClientGone ? error : null;
  const apiError = failed.clientGone || gone ? new ApiError({ code: "invalid_request", status: 499, message: "Client closed the request" }) : toApiError(error);
  finishRequest(runtime, ctx, admitted, {
    endpoint: failed.endpoint,
    model: gone?.attempt.model ?? failed.model,
    provider: gone?.providerId ?? null,
    upstreamModel: gone?.attempt.route.model ?? null,
    stream: failed.stream,
    status: apiError.status,
    usage: gone ? { inputTokens: failed.inputTokens, outputTokens: 0, cachedInputTokens: 0 } : NO_USAGE,
    usageSource: gone ? "estimated" : "none",
  });
  return apiError;
}

/**
 * The cost and balance headers of an answered request. The balance is sent even when nothing
 * was charged (free model, zero usage, test key): the write then reports none, and the
 * cached balance is the current one.
 */
export function costHeaders(runtime: Runtime, ctx: RequestContext, settled: Settled): Record<string, string> {
  return {
    "x-parrotrouter-cost-usd": nanoToUsdString(settled.costNanoUsd),
    "x-parrotrouter-balance-usd": nanoToUsdString(settled.balanceNanoUsd ?? runtime.credits.balanceOf(ctx.key.projectId)),
  };
}

interface Finishing {
  record: Omit<RequestRecord, "costNanoUsd">;
  latencyMs: number;
  writeStarted: number;
}

function beginFinish(runtime: Runtime, ctx: RequestContext, admitted: Admitted, outcome: Outcome): Finishing {
  const now = runtime.clock.now();
  admitted.admission?.settleTokens(outcome.usage.inputTokens + outcome.usage.outputTokens, now);
  const latencyMs = Math.round(performance.now() - ctx.startedMs);
  const record = {
    requestId: ctx.requestId,
    projectId: ctx.key.projectId,
    keyId: ctx.key.id,
    env: ctx.key.env,
    endpoint: outcome.endpoint,
    model: outcome.model.name,
    provider: outcome.provider,
    upstreamModel: outcome.upstreamModel,
    stream: outcome.stream,
    status: outcome.status,
    inputTokens: outcome.usage.inputTokens,
    outputTokens: outcome.usage.outputTokens,
    cachedInputTokens: outcome.usage.cachedInputTokens,
    usageSource: outcome.usageSource,
    latencyMs,
    createdAt: now,
  };
  return { record, latencyMs, writeStarted: performance.now() };
}

/** Metrics and the request's log line, once its write is done. */
function endFinish(runtime: Runtime, ctx: RequestContext, outcome: Outcome, finishing: Finishing, settled: Settled): Settled {
  const { latencyMs } = finishing;
  // The histogram gets sub-millisecond precision; the row and log line keep whole milliseconds.
  const finishedAt = performance.now();
  recordMetrics(runtime, outcome, settled.costNanoUsd, finishedAt - ctx.startedMs, finishedAt - finishing.writeStarted);
  if (runtime.logger.enabled("info")) {
    runtime.logger.info("request", {
      request_id: ctx.requestId,
      client_request_id: ctx.clientRequestId === ctx.requestId ? undefined : ctx.clientRequestId,
      project: ctx.key.projectName,
      key: ctx.key.display,
      env: ctx.key.env,
      endpoint: outcome.endpoint,
      model: outcome.model.name,
      provider: outcome.provider,
      upstream_model: outcome.upstreamModel,
      stream: outcome.stream,
      status: outcome.status,
      input_tokens: outcome.usage.inputTokens,
      output_tokens: outcome.usage.outputTokens,
      cached_input_tokens: outcome.usage.cachedInputTokens,
      usage_source: outcome.usageSource,
      cost_usd: nanoToUsd(settled.costNanoUsd),
      latency_ms: latencyMs,
    });
  }
  return settled;
}

function recordMetrics(runtime: Runtime, outcome: Outcome, costNanoUsd: number, latencyMs: number, writeMs: number): void {
  const series = runtime.metrics.finished(outcome.endpoint, outcome.model.name, outcome.provider ?? "none", outcome.status);
  series.requests.value++;
  series.duration.observe(latencyMs / 1000);
  series.dbWrite.observe(writeMs / 1000);
  series.inputTokens.value += outcome.usage.inputTokens;
  series.outputTokens.value += outcome.usage.outputTokens;
  series.cachedInputTokens.value += outcome.usage.cachedInputTokens;
  if (costNanoUsd) series.cost.value += nanoToUsd(costNanoUsd);
}

export const NO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 };
