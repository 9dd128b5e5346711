// Reads a JSON request body within `server.max_body_mb`, with OpenAI-shaped 400/413 errors.

import { ApiError } from "../shared/errors";

/** The body as text, refusing more than `maxBytes` even when no content-length was sent. */
export async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const length = request.headers.get("content-length");
  const declared = Number(length);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  // With a content-length the HTTP framing already bounds the body: read it in one go,
  // which skips a ReadableStream (the costliest part of a small request).
  if (length !== null && Number.isFinite(declared)) {
    try {
      return await request.text();
    } catch {
      throw new ApiError({ code: "invalid_request", message: "The request body could not be read" });
    }
  }
  if (!request.body) return "";
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  while (true) {
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch {
      throw new ApiError({ code: "invalid_request", message: "The request body could not be read" });
    }
    if (chunk.done) break;
    total += chunk.value.byteLength;
    if (total > maxBytes) {
      reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    parts.push(chunk.value);
  }
  return Buffer.concat(parts).toString("utf8");
}

function tooLarge(maxBytes: number): ApiError {
  // Forms are limited in KB, API bodies in MB: say the limit in the unit it was set in.
  const limit = maxBytes < 1024 * 1024 ? `${Math.round(maxBytes / 1024)} KB` : `${Math.round(maxBytes / 1024 / 1024)} MB`;
  return new ApiError({ code: "request_too_large", message: `Request body exceeds the limit of ${limit}` });
}

/** The body parsed as a JSON object; anything else is a 400. */
export async function readJsonObject(request: Request, maxBytes: number): Promise<Record<string, unknown>> {
  const text = await readBodyText(request, maxBytes);
  if (text.trim() === "") throw new ApiError({ code: "invalid_json", message: "The request body is empty; expected a JSON object" });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError({ code: "invalid_json", message: "The request body is not valid JSON" });
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ApiError({ code: "invalid_request", message: "The request body must be a JSON object" });
  }
  return parsed as Record<string, unknown>;
}
