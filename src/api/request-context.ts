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
}

export const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function clientIp(request: Request, server: Server<unknown> | null | undefined): string {
  return server?.requestIP(request)?.address ?? "unknown";
}

/** Authenticates the request's bearer key (or `x-api-key` where allowed). */
export function authenticateRequest(runtime: Runtime, request: Request, server: Server<unknown> | null | undefined, allowXApiKey = false): RequestContext {
  runtime.changes.check();
  const now = runtime.clock.now();
  const secret = bearerToken(request.headers.get("authorization")) || (allowXApiKey ? (request.headers.get("x-api-key") ?? "").trim() : "");
  const key = runtime.auth.authenticate(secret, clientIp(request, server), now);
  // Time-ordered (UUIDv7), so each request's rows land on the same B-tree pages as the
  // previous one's: a settlement writes fewer pages than with random ids.
  const requestId = `req_${Bun.randomUUIDv7().replaceAll("-", "")}`;
  const sent = request.headers.get("x-request-id");
  return {
    key,
    requestId,
    clientRequestId: sent && SANE_REQUEST_ID.test(sent) ? sent : requestId,
    startedAt: now,
    startedMs: performance.now(),
  };
}
