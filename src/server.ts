// Builds the Elysia app from its parts and starts/stops the HTTP server.

import { Elysia, type AnyElysia } from "elysia";
import { adminApi, type AdminSessionCheck } from "./admin/api";
import type { AdminTokenVerifier } from "./admin/token";
import { handleCredits, handleKeyInfo, handleUsage } from "./api/account";
import { handleChatCompletion } from "./api/chat";
import { handleEmbeddings } from "./api/embeddings";
import { handleGetModel, handleListModels } from "./api/models";
import { SANE_REQUEST_ID } from "./api/request-context";
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

export function buildApp(runtime: Runtime, options: AppOptions) {
  let app = new Elysia()
    .onError(({ code, error, request }) => {
      const apiError = frameworkError(code, error);
      if (apiError.status >= 500 && !(error instanceof ApiError)) {
        runtime.logger.error("unhandled error", { path: new URL(request.url).pathname, error: String(error) });
      }
      // Errors carry the client's request id too, so a failed call can be found in the logs.
      const requestId = request.headers.get("x-request-id");
      return apiError.toResponse(requestId && SANE_REQUEST_ID.test(requestId) ? { "x-request-id": requestId } : undefined);
    })
    .get("/health", () => ({ status: "ok" }))
    .get("/metrics", () => new Response(runtime.metrics.render(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } }))
    .post("/v1/chat/completions", ({ request, server }) => handleChatCompletion(runtime, request, server), { parse: "none" })
    .post("/v1/embeddings", ({ request, server }) => handleEmbeddings(runtime, request, server), { parse: "none" })
    .get("/v1/models", ({ request, server }) => handleListModels(runtime, request, server))
    .get("/v1/models/*", ({ request, server, params }) => handleGetModel(runtime, request, server, decodeURIComponent(params["*"])))
    .get("/v1/key", ({ request, server }) => handleKeyInfo(runtime, request, server))
    .get("/v1/credits", ({ request, server }) => handleCredits(runtime, request, server))
    .get("/v1/usage", ({ request, server }) => handleUsage(runtime, request, server))
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
