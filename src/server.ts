// Builds the Elysia app from its parts and starts/stops the HTTP server.

import type { Server } from "bun";
import { Elysia, type AnyElysia } from "elysia";
import { adminApi, type AdminSessionCheck } from "./admin/api";
import type { AdminTokenVerifier } from "./admin/token";
import { handleCredits, handleKeyInfo, handleUsage } from "./api/account";
import { handleChatCompletion } from "./api/chat";
import { handleEmbeddings } from "./api/embeddings";
import { handleGetModel, handleListModels } from "./api/models";
import { clientRequestId, contextOf, newRequestId } from "./api/request-context";
import { effectiveLimits } from "./keys/rate-limit";
import { ApiError, toApiError } from "./shared/errors";
import type { Runtime } from "./runtime";

export interface AppOptions {
  verifier: AdminTokenVerifier;
  sessionCheck?: AdminSessionCheck;
  /** Extra routes (the admin page) mounted on the same app. */
  plugins?: AnyElysia[];
}

/** Elysia's own error codes, rendered in OpenAI's shape like every other error. */
function frameworkError(code: string | number, error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (code === "NOT_FOUND") return new ApiError({ code: "not_found", message: "Unknown endpoint" });
  if (code === "PARSE") return new ApiError({ code: "invalid_json", message: "The request body is not valid JSON" });
  if (code === "VALIDATION") return new ApiError({ code: "invalid_request", message: "The request is invalid" });
  return toApiError(error);
}

type ApiHandler = (runtime: Runtime, request: Request, server: Server<unknown> | null) => Response | Promise<Response>;

/** An error as the client sees it, in OpenAI's shape; a 5xx that is not ours is logged. */
function errorResponse(runtime: Runtime, code: string | number, error: unknown, request: Request): Response {
  const apiError = frameworkError(code, error);
  if (apiError.status >= 500 && !(error instanceof ApiError)) {
    runtime.logger.error("unhandled error", { path: new URL(request.url).pathname, error: String(error) });
  }
  return apiError.toResponse();
}

/**
 * Every answer of the API: errors rendered in OpenAI's shape, an `x-request-id` on success and
 * failure alike, and one log line per request. Admitted inference requests write their richer
 * line when they settle (a stream only ends after this returns), so they are not logged twice.
 */
async function answer(runtime: Runtime, request: Request, startedMs: number, respond: () => Response | Promise<Response>): Promise<Response> {
  let response: Response;
  try {
    response = await respond();
  } catch (error) {
    response = errorResponse(runtime, "HANDLER", error, request);
  }
  const ctx = contextOf(request);
  const requestId = ctx?.clientRequestId ?? clientRequestId(request) ?? newRequestId();
  if (!response.headers.has("x-request-id")) response = withHeader(response, "x-request-id", requestId);
  // A limited key sees where it stands on every answer, errors before admission included
  // (reading the budget does not spend it).
  if (ctx && isLimited(ctx.key, runtime.config.rateLimits) && !response.headers.has("x-ratelimit-limit-requests") && !response.headers.has("x-ratelimit-limit-tokens")) {
    const limits = runtime.rateLimiter.currentHeaders(ctx.key, runtime.config.rateLimits, runtime.clock.now());
    for (const [name, value] of Object.entries(limits)) response = withHeader(response, name, value);
  }
  if (!ctx?.loggedAtFinish && runtime.logger.enabled("info")) {
    runtime.logger.info("request", {
      request_id: ctx?.requestId ?? requestId,
      client_request_id: ctx && ctx.clientRequestId !== ctx.requestId ? ctx.clientRequestId : undefined,
      method: request.method,
      path: new URL(request.url).pathname,
      project: ctx?.key.projectName,
      key: ctx?.key.display,
      status: response.status,
      latency_ms: Math.round(performance.now() - startedMs),
    });
  }
  return response;
}

/** True when the key (or the config's defaults) sets a rate limit: only then are there headers to add. */
function isLimited(key: { rpm: number | null; tpm: number | null }, defaults: { rpm?: number; tpm?: number }): boolean {
  const limits = effectiveLimits(key, defaults);
  return Boolean(limits.rpm || limits.tpm);
}

/** `response` with one more header; a Response whose headers are frozen is copied. */
function withHeader(response: Response, name: string, value: string): Response {
  try {
    response.headers.set(name, value);
    return response;
  } catch {
    const headers = new Headers(response.headers);
    headers.set(name, value);
    return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  }
}

/** The model id of `/v1/models/{id}`, which may itself contain slashes (`provider/model`). */
function modelIdOf(request: Request): string {
  const raw = new URL(request.url).pathname.slice("/v1/models/".length);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw; // a malformed %-escape is just an unknown model
  }
}

/**
 * The two inference endpoints' exact paths, served from Bun's own routing table: each request
 * skips Elysia's per-request context and lifecycle: 2–5 µs at one connection (bench/RESULTS.md,
 * ninth session). They answer exactly as the same routes in Elysia do (the same `answer`,
 * which renders every error). Elysia keeps those routes too, for what Bun's table does not
 * match (a trailing slash); other methods fall through to it and get its 404, as before.
 */
function inferenceRoutes(runtime: Runtime) {
  const post = (handle: ApiHandler) => ({
    POST: (request: Request, server: Server<unknown>) =>
      // `answer` renders a handler's errors; this catches one of its own, so no error ever reaches
      // Bun's default handler (which would answer in its own shape, not OpenAI's).
      answered(runtime, handle, request, server).catch((error: unknown) => errorResponse(runtime, "HANDLER", error, request)),
  });
  return { "/v1/chat/completions": post(handleChatCompletion), "/v1/embeddings": post(handleEmbeddings) };
}

/** An API handler's answer to one request, through `answer`, from whichever routing table matched it. */
function answered(runtime: Runtime, handle: ApiHandler, request: Request, server: Server<unknown> | null): Promise<Response> {
  return answer(runtime, request, performance.now(), () => handle(runtime, request, server));
}

export function buildApp(runtime: Runtime, options: AppOptions) {
  const api =
    (handle: ApiHandler) =>
    ({ request, server }: { request: Request; server: Server<unknown> | null }) =>
      answered(runtime, handle, request, server);
  let app = new Elysia({ serve: { routes: inferenceRoutes(runtime) } })
    // What never reached a handler (unknown path, unreadable body) is answered and logged here.
    .onError(({ code, error, request }) => answer(runtime, request, performance.now(), () => errorResponse(runtime, code, error, request)))
    .get("/health", () => ({ status: "ok" }))
    .get("/metrics", () => new Response(runtime.metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } }))
    .post("/v1/chat/completions", api(handleChatCompletion), { parse: "none" })
    .post("/v1/embeddings", api(handleEmbeddings), { parse: "none" })
    .get("/v1/models", api(handleListModels))
    .get("/v1/models/*", api((runtime, request, server) => handleGetModel(runtime, request, server, modelIdOf(request))))
    .get("/v1/key", api(handleKeyInfo))
    .get("/v1/credits", api(handleCredits))
    .get("/v1/usage", api(handleUsage))
    .use(adminApi(runtime, options.verifier, options.sessionCheck));
  for (const plugin of options.plugins ?? []) app = app.use(plugin);
  return app;
}

export interface RunningServer {
  url: string;
  port: number;
  /** Stops accepting; `force` also closes connections still in flight. */
  stop(force?: boolean): Promise<void>;
}

/** Starts listening; `port: 0` picks a free port (tests). */
export function startServer(runtime: Runtime, options: AppOptions & { port?: number; host?: string }): RunningServer {
  const app = buildApp(runtime, options);
  const host = options.host ?? runtime.config.server.host;
  app.listen({
    hostname: host,
    port: options.port ?? runtime.config.server.port,
    // Bodies are read by our own bounded reader, which answers an OpenAI-shaped 413 (and
    // stops reading) at server.max_body_mb; Bun's own limit would answer an empty 413.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  });
  const server = app.server!;
  const shownHost = host === "0.0.0.0" ? "localhost" : host;
  return {
    url: `http://${shownHost}:${server.port}`,
    port: server.port!,
    stop: async (force = false) => {
      await app.stop(force);
    },
  };
}
