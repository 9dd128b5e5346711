// The one error type of the API: a closed set of OpenAI-shaped codes, each mapped to its
// HTTP status and type in one table. Nothing else builds an error body.

const ERROR_TABLE = {
  missing_api_key: { status: 401, type: "authentication_error" },
  invalid_api_key: { status: 401, type: "authentication_error" },
  invalid_admin_token: { status: 401, type: "authentication_error" },
  insufficient_credits: { status: 402, type: "payment_required" },
  insufficient_scope: { status: 403, type: "permission_error" },
  model_not_allowed: { status: 403, type: "permission_error" },
  forbidden: { status: 403, type: "permission_error" },
  not_found: { status: 404, type: "invalid_request_error" },
  model_not_found: { status: 404, type: "invalid_request_error" },
  method_not_allowed: { status: 405, type: "invalid_request_error" },
  invalid_json: { status: 400, type: "invalid_request_error" },
  invalid_request: { status: 400, type: "invalid_request_error" },
  missing_required_parameter: { status: 400, type: "invalid_request_error" },
  conflict: { status: 409, type: "invalid_request_error" },
  request_too_large: { status: 413, type: "invalid_request_error" },
  rate_limit_exceeded: { status: 429, type: "rate_limit_exceeded" },
  internal_error: { status: 500, type: "server_error" },
  upstream_error: { status: 502, type: "upstream_error" },
  upstream_unavailable: { status: 503, type: "upstream_error" },
  upstream_timeout: { status: 504, type: "upstream_error" },
  shutting_down: { status: 503, type: "server_error" },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERROR_TABLE;

export interface ApiErrorOptions {
  code: ErrorCode;
  message: string;
  param?: string;
  /** Overrides the table's status, e.g. to pass an upstream's 4xx status on. */
  status?: number;
  /** Overrides the table's type, e.g. to keep an upstream's own error type. */
  type?: string;
  /** Extra response headers such as `retry-after`. */
  headers?: Record<string, string>;
}

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly param?: string;
  readonly headers?: Record<string, string>;

  constructor(options: ApiErrorOptions) {
    super(options.message);
    this.code = options.code;
    this.status = options.status ?? ERROR_TABLE[options.code].status;
    this.type = options.type ?? ERROR_TABLE[options.code].type;
    this.param = options.param;
    this.headers = options.headers;
  }

  /** The OpenAI-shaped body: `{error: {message, type, code, param}}`. */
  toBody(): { error: { message: string; type: string; code: string; param: string | null } } {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param ?? null } };
  }

  toResponse(extraHeaders?: Record<string, string>): Response {
    return new Response(JSON.stringify(this.toBody()), {
      status: this.status,
      headers: { "content-type": "application/json", ...this.headers, ...extraHeaders },
    });
  }
}

/** The seed's verbatim errors, shared so their wording can never drift. */
export const SEED_ERRORS = {
  missingKey: () => new ApiError({ code: "missing_api_key", message: "No API key provided" }),
  invalidKey: () => new ApiError({ code: "invalid_api_key", message: "Invalid API key provided" }),
  noCredits: () =>
    new ApiError({ code: "insufficient_credits", message: "Insufficient credits. Please add credits to continue." }),
};

/**
 * A failure of the upstream before the response started. `retryable` tells the router it may
 * try again or fall back; `retryAfterMs` honours the upstream's `retry-after`.
 */
export class UpstreamError extends ApiError {
  readonly retryable: boolean;
  readonly retryAfterMs?: number;

  constructor(options: ApiErrorOptions & { retryable: boolean; retryAfterMs?: number }) {
    super(options);
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Turns anything thrown into an ApiError without leaking internals. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  return new ApiError({ code: "internal_error", message: "Internal server error" });
}
