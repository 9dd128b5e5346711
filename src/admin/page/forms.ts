// Turns the admin page's form posts into the JSON bodies the admin service validates, so the
// page and the JSON API share one set of rules and error messages.

import { readBodyText } from "../../api/body";
import { ApiError } from "../../shared/errors";

const MAX_FORM_BYTES = 64 * 1024;

/**
 * Reads an urlencoded (or multipart) form body through the same bounded reader as the API, so
 * a chunked body cannot exceed the limit either; a malformed body is a 400, never a 500.
 */
export async function readForm(request: Request): Promise<URLSearchParams> {
  const contentType = request.headers.get("content-type") ?? "";
  const text = await readBodyText(request, MAX_FORM_BYTES);
  if (!contentType.startsWith("multipart/form-data")) return new URLSearchParams(text);
  let data: Awaited<ReturnType<Response["formData"]>>;
  try {
    data = await new Response(text, { headers: { "content-type": contentType } }).formData();
  } catch {
    throw new ApiError({ code: "invalid_request", message: "The form could not be read" });
  }
  const params = new URLSearchParams();
  for (const [name, value] of data) if (typeof value === "string") params.append(name, value);
  return params;
}

/** A trimmed field, or undefined when empty. */
function field(form: URLSearchParams, name: string): string | undefined {
  const value = form.get(name)?.trim();
  return value ? value : undefined;
}

/** The field as a number, undefined when empty; text that is not a number is a 400 naming the field. */
function numberField(form: URLSearchParams, name: string): number | undefined {
  const value = field(form, name);
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new ApiError({ code: "invalid_request", message: `${name}: '${value}' is not a number`, param: name });
  return parsed;
}

export function projectBody(form: URLSearchParams) {
  const credits = numberField(form, "credits_usd");
  return { name: field(form, "name") ?? "", ...(credits === undefined ? {} : { credits_usd: credits }) };
}

export function creditsBody(form: URLSearchParams) {
  const note = field(form, "note");
  return { amount_usd: numberField(form, "amount_usd"), ...(note ? { note } : {}) };
}

export function keyBody(form: URLSearchParams, project: string) {
  const body: Record<string, unknown> = { project, name: field(form, "name") ?? "default", env: field(form, "env") ?? "live", scopes: form.getAll("scopes") };
  const models = field(form, "models")
    ?.split(/[\s,]+/)
    .filter(Boolean);
  if (models && models.length > 0) body.models = models;
  for (const name of ["spend_limit_usd", "rpm", "tpm"]) {
    const value = numberField(form, name);
    if (value !== undefined) body[name] = value;
  }
  const reset = field(form, "limit_reset");
  if (reset) body.limit_reset = reset;
  // A date picks the end of that day (UTC), so "expires on 2027-01-31" includes the 31st.
  const expires = field(form, "expires_at");
  if (expires) body.expires_at = /^\d{4}-\d{2}-\d{2}$/.test(expires) ? `${expires}T23:59:59.999Z` : expires;
  return body;
}

export function rotateBody(form: URLSearchParams) {
  const minutes = numberField(form, "grace_minutes");
  return { grace_seconds: Math.max(0, minutes ?? 0) * 60 };
}
