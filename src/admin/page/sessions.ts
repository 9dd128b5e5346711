// Admin page sessions, in memory: a random 32-byte id in an HttpOnly cookie, a per-session
// CSRF token, and one-shot flash messages (including a newly issued key's secret).

import { timingSafeEqual } from "node:crypto";
import type { Clock } from "../../shared/clock";

export const SESSION_COOKIE = "pr_admin_session";
export const SESSION_TTL_MS = 12 * 3_600_000;
const MAX_SESSIONS = 10_000;

/** Shown once on the next page, then forgotten. */
export interface Flash {
  notice?: string;
  error?: string;
  /** A key's secret right after it was issued or rotated: shown once, never stored. */
  issuedKey?: { name: string; display: string; secret: string };
}

export interface AdminSession {
  id: string;
  /** Must come back with every state change (hidden form field or `x-csrf-token`). */
  csrfToken: string;
  expiresAt: number;
  flash: Flash;
}

const randomToken = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");

export class AdminSessions {
  private readonly sessions = new Map<string, AdminSession>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = SESSION_TTL_MS,
  ) {}

  create(): AdminSession {
    const now = this.clock.now();
    if (this.sessions.size >= MAX_SESSIONS) this.sweep(now);
    // Still full after the sweep: drop the oldest rather than grow without bound.
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const session: AdminSession = { id: randomToken(), csrfToken: randomToken(), expiresAt: now + this.ttlMs, flash: {} };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The live session named by the request's cookie, if any. */
  fromRequest(request: Request): AdminSession | undefined {
    const id = cookieValue(request.headers.get("cookie"), SESSION_COOKIE);
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (session.expiresAt <= this.clock.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  destroy(session: AdminSession): void {
    this.sessions.delete(session.id);
  }

  /** Returns the flash and clears it, so it shows exactly once. */
  takeFlash(session: AdminSession): Flash {
    const flash = session.flash;
    session.flash = {};
    return flash;
  }

  private sweep(now: number): void {
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
  }
}

/** Constant-time check of a submitted CSRF token against the session's. */
export function csrfMatches(session: AdminSession, submitted: string | null | undefined): boolean {
  if (!submitted) return false;
  const expected = Buffer.from(session.csrfToken);
  const actual = Buffer.from(submitted);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export function cookieValue(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** `Secure` only over https, or the browser would drop the cookie on plain-http installs. */
export function sessionCookie(session: AdminSession, secure: boolean, ttlMs = SESSION_TTL_MS): string {
  return `${SESSION_COOKIE}=${session.id}; Path=/admin; Max-Age=${Math.floor(ttlMs / 1000)}; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}
