// The upstream HTTP call every provider makes: first-byte timeout, no redirects, and the
// translation of network failures and error statuses into retryable/final UpstreamErrors.

import { followAbortAfter } from "../shared/abort";
import { UpstreamError } from "../shared/errors";

export interface UpstreamRequest {
  url: string;
  headers: Record<string, string>;
  /** JSON body; sent with `content-type: application/json`. */
  body?: unknown;
  method?: "GET" | "POST";
  signal: AbortSignal;
  firstByteTimeoutMs: number;
}

/**
 * How long an upstream call runs before it starts following the caller's signal. A client that
 * leaves stops the upstream call within this; LLM calls take seconds, and the ones that end
 * sooner skip the listener's cost.
 */
const FOLLOW_CALLER_AFTER_MS = 50;

/**
 * Sends the request and resolves once the upstream's headers arrive with a 2xx status.
 * Anything else becomes an UpstreamError saying whether the router may retry.
 */
export async function sendUpstream(request: UpstreamRequest): Promise<Response> {
  // A timer we can clear once headers arrive: a signal like AbortSignal.timeout would stay
  // attached to the body and cut every stream longer than the first-byte timeout.
  // It also follows the caller's signal (from FOLLOW_CALLER_AFTER_MS on), so a client that
  // leaves stops the upstream call.
  const firstByte = new AbortController();
  const stopFollowing = followAbortAfter(request.signal, firstByte, FOLLOW_CALLER_AFTER_MS);
  const timer = setTimeout(() => firstByte.abort(), request.firstByteTimeoutMs);
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method ?? "POST",
      headers: request.body === undefined ? request.headers : withJsonContentType(request.headers),
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal: firstByte.signal,
      // A redirect could carry the provider key to another host: never follow one.
      redirect: "manual",
      // Bun decompresses for us; we re-frame the body anyway.
    });
  } catch (error) {
    stopFollowing();
    if (request.signal.aborted) throw request.signal.reason ?? error;
    if (firstByte.signal.aborted) {
      throw new UpstreamError({
        code: "upstream_timeout",
        message: `Upstream did not answer within ${request.firstByteTimeoutMs} ms`,
        retryable: true,
      });
    }
    throw new UpstreamError({ code: "upstream_error", message: "Upstream unreachable", retryable: true });
  } finally {
    clearTimeout(timer);
  }
  if (response.status >= 200 && response.status < 300) {
    bodyControllers.set(response, { controller: firstByte, stopFollowing });
    return response;
  }
  try {
    throw await upstreamErrorFromResponse(response);
  } finally {
    stopFollowing();
  }
}

/**
 * The controller each upstream response's fetch listens to: aborting it after the headers
 * stops the body read and closes the upstream connection (a stalled JSON body). A JSON body
 * read in time cancels the follow of the caller's signal that had not begun yet.
 */
const bodyControllers = new WeakMap<Response, { controller: AbortController; stopFollowing: () => void }>();

/** The provider's headers plus `content-type: application/json`, built once per headers object. */
const jsonHeaders = new WeakMap<Record<string, string>, Record<string, string>>();
function withJsonContentType(headers: Record<string, string>): Record<string, string> {
  let combined = jsonHeaders.get(headers);
  if (!combined) {
    combined = { "content-type": "application/json", ...headers };
    jsonHeaders.set(headers, combined);
  }
  return combined;
}

/** Maps an upstream's error status and body to the error the client sees. */
export async function upstreamErrorFromResponse(response: Response): Promise<UpstreamError> {
  const text = await response.text().catch(() => "");
  const upstreamMessage = extractErrorMessage(text);
  const status = response.status;
  const retryAfterMs = parseRetryAfter(response.headers);
  const detail = upstreamMessage ? `: ${upstreamMessage}` : "";

  if (status >= 300 && status < 400) {
    return new UpstreamError({ code: "upstream_error", message: `Upstream answered with a redirect (${status})`, retryable: true });
  }
  // Gemini answers a bad key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID.
  if (status === 401 || status === 403 || (status === 400 && text.includes("API_KEY_INVALID"))) {
    // The provider's credentials are ours, not the client's: never a 401 to the client.
    return new UpstreamError({ code: "upstream_error", message: `Upstream rejected the provider credentials (${status})`, retryable: true });
  }
  if (status === 429) {
    return new UpstreamError({
      code: "rate_limit_exceeded",
      message: `Upstream rate limit reached${detail}`,
      retryable: true,
      retryAfterMs,
      headers: retryAfterMs === undefined ? undefined : { "retry-after": String(Math.ceil(retryAfterMs / 1000)) },
    });
  }
  if (status === 408 || status === 504) {
    return new UpstreamError({ code: "upstream_timeout", message: `Upstream timed out (${status})${detail}`, retryable: true, retryAfterMs });
  }
  if (status === 503 || status === 529) {
    return new UpstreamError({ code: "upstream_unavailable", message: `Upstream unavailable (${status})${detail}`, retryable: true, retryAfterMs });
  }
  if (status >= 500) {
    return new UpstreamError({ code: "upstream_error", message: `Upstream error (${status})${detail}`, retryable: true, retryAfterMs });
  }
  // Other 4xx: the request itself is wrong; pass the status on, retrying cannot help.
  return new UpstreamError({
    code: status === 404 ? "model_not_found" : "invalid_request",
    status,
    type: "invalid_request_error",
    message: upstreamMessage || `Upstream rejected the request (${status})`,
    retryable: false,
  });
}

/** Pulls a human message out of OpenAI, Anthropic or Gemini error bodies. */
function extractErrorMessage(text: string): string {
  if (!text) return "";
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const error = Array.isArray(parsed) ? (parsed[0] as typeof parsed)?.error : parsed.error;
    if (typeof error === "string") return error.slice(0, 500);
    if (error && typeof error.message === "string") return error.message.slice(0, 500);
    if (typeof parsed.message === "string") return parsed.message.slice(0, 500);
  } catch {
    // not JSON: fall through to the plain text
  }
  return text.slice(0, 200).trim();
}

/** `retry-after-ms`, `retry-after` in seconds or as an HTTP date, in milliseconds. */
export function parseRetryAfter(headers: Headers): number | undefined {
  const ms = headers.get("retry-after-ms");
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const value = headers.get("retry-after");
  if (!value) return undefined;
  if (Number.isFinite(Number(value))) return Math.max(0, Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** Parses JSON from an upstream body, or fails as a bad gateway. */
export async function readUpstreamJson(response: Response, bodyTimeoutMs = 120_000): Promise<Record<string, unknown>> {
  let stalled = false;
  const upstream = bodyControllers.get(response);
  const timer = setTimeout(() => {
    stalled = true;
    // Aborting the fetch closes the connection; a body without one can only be dropped.
    if (upstream) upstream.controller.abort();
    else response.body?.cancel().catch(() => {});
  }, bodyTimeoutMs);
  let text: string;
  try {
    text = await response.text();
  } catch {
    if (stalled) throw new UpstreamError({ code: "upstream_timeout", message: `Upstream body stalled for ${bodyTimeoutMs} ms`, retryable: true });
    throw new UpstreamError({ code: "upstream_error", message: "Upstream connection failed while reading the body", retryable: true });
  } finally {
    clearTimeout(timer);
    upstream?.stopFollowing();
  }
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // handled below
  }
  throw new UpstreamError({ code: "upstream_error", message: "Upstream returned an invalid JSON body", retryable: true });
}
