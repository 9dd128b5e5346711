// Helpers for the admin tests: a logged-in admin talking plain HTTP to the page (cookie and
// CSRF token kept like a browser would), and usage written through the real settle path.

import type { Runtime } from "../../src/runtime";
import { ADMIN_TOKEN } from "../support/server";

export const FORM = "application/x-www-form-urlencoded";

export interface AdminClient {
  cookie: string;
  csrf: string;
  /** GET with the session cookie; redirects are not followed. */
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** A same-origin form post carrying the CSRF token (override either through `fields`/`headers`; "" drops a header). */
  post(path: string, fields?: Record<string, string | string[]>, headers?: Record<string, string>): Promise<Response>;
}

export function formBody(fields: Record<string, string | string[]>): URLSearchParams {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const item of [value].flat()) body.append(name, item);
  return body;
}

export function csrfFrom(html: string): string {
  const match = html.match(/<meta name="csrf-token" content="([^"]+)">/);
  if (!match) throw new Error("no CSRF token on the page");
  return match[1]!;
}

export async function loginAsAdmin(baseUrl: string, fetcher: (request: Request) => Promise<Response> = (r) => fetch(r, { redirect: "manual" })): Promise<AdminClient> {
  const response = await fetcher(new Request(`${baseUrl}/admin/login`, { method: "POST", headers: { "content-type": FORM, origin: baseUrl }, body: formBody({ token: ADMIN_TOKEN }) }));
  if (response.status !== 303) throw new Error(`login failed: ${response.status}`);
  const cookie = response.headers.get("set-cookie")!.split(";")[0]!;
  const home = await fetcher(new Request(`${baseUrl}/admin`, { headers: { cookie } }));
  const csrf = csrfFrom(await home.text());
  return {
    cookie,
    csrf,
    get: (path, headers = {}) => fetcher(new Request(`${baseUrl}${path}`, { headers: { cookie, ...headers } })),
    post: (path, fields = {}, headers = {}) => {
      // An empty header value means "leave this header out" (e.g. no Origin at all).
      const sent = Object.entries({ cookie, origin: baseUrl, "content-type": FORM, ...headers }).filter(([, value]) => value !== "");
      return fetcher(new Request(`${baseUrl}${path}`, { method: "POST", headers: sent, body: formBody({ _csrf: csrf, ...fields }) }));
    },
  };
}

export interface UsageEntry {
  projectId: string;
  keyId: string;
  model: string;
  at: number;
  inputTokens?: number;
  outputTokens?: number;
  costNanoUsd?: number;
  env?: "live" | "test";
  latencyMs?: number;
  status?: number;
}

/** Records one finished request exactly as the server does (raw row + rollup + charge). */
export function recordUsage(runtime: Runtime, entry: UsageEntry): string {
  const requestId = `req_${crypto.randomUUID().replaceAll("-", "")}`;
  runtime.ledger.settle(
    {
      requestId,
      projectId: entry.projectId,
      keyId: entry.keyId,
      env: entry.env ?? "live",
      endpoint: "chat.completions",
      model: entry.model,
      provider: "mock",
      upstreamModel: entry.model,
      stream: false,
      status: entry.status ?? 200,
      inputTokens: entry.inputTokens ?? 10,
      outputTokens: entry.outputTokens ?? 5,
      cachedInputTokens: 0,
      costNanoUsd: entry.costNanoUsd ?? 1000,
      usageSource: "reported",
      latencyMs: entry.latencyMs ?? 42,
      createdAt: entry.at,
    },
  );
  runtime.credits.clearCaches();
  return requestId;
}
