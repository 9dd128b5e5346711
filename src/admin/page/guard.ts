// Request checks for state changes made with the session cookie: the Origin (or Referer) must
// be this server, and the session's CSRF token must come back. Bearer-token calls skip both.

import { csrfMatches, type AdminSession } from "./sessions";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

/** True when the client reached us over https (directly or through a TLS-terminating proxy). */
export function isHttps(request: Request): boolean {
  const forwarded = request.headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
  return forwarded === "https" || new URL(request.url).protocol === "https:";
}

/**
 * False when the browser says the request comes from another site. Browsers send `Origin` on
 * every cross-site POST; a request with neither Origin nor Referer is not from a browser form
 * on another site, and still needs the CSRF token.
 */
export function originAllowed(request: Request): boolean {
  const source = request.headers.get("origin") ?? request.headers.get("referer");
  if (source === null) return true;
  // Our own host as the browser addressed it (a reverse proxy may pass it as x-forwarded-host).
  const ours = [request.headers.get("host") ?? new URL(request.url).host, request.headers.get("x-forwarded-host")];
  try {
    const theirs = new URL(source).host.toLowerCase();
    return ours.some((host) => host?.toLowerCase() === theirs);
  } catch {
    return false; // "null" (sandboxed frames, file://) and garbage are foreign
  }
}

/** A cookie-authenticated state change is allowed only from our origin with the session's token. */
export function stateChangeAllowed(request: Request, session: AdminSession, submittedToken: string | null | undefined): boolean {
  return originAllowed(request) && csrfMatches(session, submittedToken);
}
