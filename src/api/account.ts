// Key self-service, in OpenRouter's field names so tools written for it read ours:
// GET /v1/key (this key), GET /v1/credits (project balance), GET /v1/usage (project usage).

import type { Server } from "bun";
import { startOfUtcDay, startOfUtcMonth, startOfUtcWeek } from "../credits/windows";
import { requireScope } from "../keys/permissions";
import { effectiveLimits } from "../keys/rate-limit";
import type { KeyRecord } from "../keys/repository";
import { nanoToUsd } from "../shared/money";
import { parseUsageQuery, usageCsvResponse, usageRowsJson } from "../usage/query";
import type { Runtime } from "../runtime";
import { authenticateRequest } from "./request-context";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * Authenticates with the read scope, then answers for the key. These calls read the rate-limit
 * budget without taking from it (server.ts adds the x-ratelimit-* headers to every answer): only
 * completions and embeddings count (DESIGN.md §3 rate-limits the inference path).
 */
function accountCall(runtime: Runtime, request: Request, server: Server<unknown> | null | undefined, answer: (key: KeyRecord) => Response): Response {
  const { key } = authenticateRequest(runtime, request, server);
  requireScope(key, "read");
  return answer(key);
}

export function handleKeyInfo(runtime: Runtime, request: Request, server: Server<unknown> | null | undefined): Response {
  return accountCall(runtime, request, server, (key) => keyInfo(runtime, key));
}

function keyInfo(runtime: Runtime, key: KeyRecord): Response {
  const now = runtime.clock.now();
  const spentAll = runtime.usage.totalCost({ keyId: key.id });
  const limit = key.spendLimitNanoUsd;
  // What the cap is checked against: this key's window spend together with the keys it was rotated from.
  const spentInWindow = limit === null ? 0 : runtime.credits.keySpent(key, now);
  const { rpm, tpm } = effectiveLimits(key, runtime.config.rateLimits);
  return Response.json({
    data: {
      label: key.display,
      name: key.name,
      env: key.env,
      scopes: key.scopes,
      models: key.models,
      project: key.projectName,
      limit: limit === null ? null : nanoToUsd(limit),
      limit_remaining: limit === null ? null : nanoToUsd(Math.max(0, limit - spentInWindow)),
      limit_reset: key.limitReset,
      usage: nanoToUsd(spentAll),
      usage_daily: nanoToUsd(runtime.usage.totalCost({ keyId: key.id, from: startOfUtcDay(now) })),
      usage_weekly: nanoToUsd(runtime.usage.totalCost({ keyId: key.id, from: startOfUtcWeek(now) })),
      usage_monthly: nanoToUsd(runtime.usage.totalCost({ keyId: key.id, from: startOfUtcMonth(now) })),
      is_free_tier: false,
      rate_limit: { requests_per_minute: rpm, tokens_per_minute: tpm },
      expires_at: iso(key.expiresAt),
      created_at: iso(key.createdAt),
      last_used_at: iso(key.lastUsedAt),
    },
  });
}

export function handleCredits(runtime: Runtime, request: Request, server: Server<unknown> | null | undefined): Response {
  return accountCall(runtime, request, server, (key) => credits(runtime, key));
}

function credits(runtime: Runtime, key: KeyRecord): Response {
  const totals = runtime.ledger.totals(key.projectId);
  const balance = runtime.credits.balanceOf(key.projectId);
  return Response.json({
    data: {
      total_credits: nanoToUsd(totals.creditsNanoUsd),
      total_usage: nanoToUsd(totals.usageNanoUsd),
      balance: nanoToUsd(balance),
      available: nanoToUsd(runtime.credits.availableOf(key.projectId)),
    },
  });
}

export function handleUsage(runtime: Runtime, request: Request, server: Server<unknown> | null | undefined): Response {
  return accountCall(runtime, request, server, (key) => usage(runtime, key, request));
}

function usage(runtime: Runtime, key: KeyRecord, request: Request): Response {
  const params = new URL(request.url).searchParams;
  const { filter, groupBy, format } = parseUsageQuery(params);
  // A key only ever sees its own project's usage; a `key` filter must be one of the project's keys.
  const keyFilter = params.get("key") ?? undefined;
  const rows = runtime.usage.summarize({ ...filter, projectId: key.projectId, keyId: keyFilter }, groupBy);
  if (format === "csv") {
    return usageCsvResponse(rows, groupBy);
  }
  return Response.json({ object: "list", group_by: groupBy, data: usageRowsJson(rows, groupBy) });
}
