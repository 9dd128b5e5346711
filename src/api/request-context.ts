// Per-request facts every /v1 handler needs: the authenticated key, the request id, the
// client IP and the rate-limit headers to return.

import type { Server } from "bun";
import { bearerToken } from "../keys/auth";
import type { KeyRecord } from "../keys/repository";
import type { Runtime } from "../runtime";

export interface RequestContext {
  key: KeyRecord;
  /** Our id for the ledger and logs (never the client's, which could collide). */
  requestId: string;
  /** Echoed as `x-request-id`: the client's own id when it sent a sane one. */
  clientRequestId: string;
  startedAt: number;
  startedMs: number;
  /** Set once the request is admitted: its settlement writes the request's log line. */
  loggedAtFinish: boolean;
}

/** The context of each authenticated request, for the answer's request id and log line. */
const contexts = new WeakMap<Request, RequestContext>();

export function contextOf(request: Request): RequestContext | undefined {
  return contexts.get(request);
}

/** The client's x-request-id when it is sane, else undefined. */
export function clientRequestId(request: Request): string | undefined {
  const sent = request.headers.get("x-request-id");
  return sent && SANE_REQUEST_ID.test(sent) ? sent : undefined;
}

/** Time-ordered (UUIDv7), so each request's rows land on the same B-tree pages as the previous one's. */
export function newRequestId(): string {
  return `req_${Bun.randomUUIDv7("buffer").toString("hex")}`;
}

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function clientIp(request: Request, server: Server<unknown> | null | undefined): string {
  return server?.requestIP(request)?.address ?? "unknown";
}

/** Authenticates the request's bearer key (or `x-api-key` where allowed). */
export function authenticateRequest(runtime: Runtime, request: Request, server: Server<unknown> | null | undefined, allowXApiKey = false): RequestContext {
  runtime.changes.check();
  const now = runtime.clock.now();
  const secret = bearerToken(request.headers.get("authorization")) || (allowXApiKey ? (request.headers.get("x-api-key") ?? "").trim() : "");
  const key = runtime.auth.authenticate(secret, () => clientIp(request, server), now);
  const requestId = newRequestId();
  const ctx: RequestContext = {
    key,
    requestId,
    clientRequestId: clientRequestId(request) ?? requestId,
    startedAt: now,
    startedMs: performance.now(),
    loggedAtFinish: false,
  };
  contexts.set(request, ctx);
  return ctx;
}
