// Parsing usage filters from a query string and rendering rows as JSON or CSV, shared by
// GET /v1/usage and GET /admin/api/usage.

import { ApiError } from "../shared/errors";
import { nanoToUsd } from "../shared/money";
import type { UsageFilter, UsageGroup, UsageRow } from "./repository";

const GROUPS: UsageGroup[] = ["day", "model", "key"];

/** `from`/`to` accept ISO dates (`2026-11-01`), ISO times or epoch milliseconds. */
function parseTime(value: string | null, param: string): number | undefined {
  if (value === null || value === "") return undefined;
  const asNumber = Number(value);
  const ms = Number.isFinite(asNumber) ? asNumber : Date.parse(value);
  if (Number.isNaN(ms)) throw new ApiError({ code: "invalid_request", message: `${param} must be an ISO date or epoch milliseconds`, param });
  return ms;
}

/** The exclusive end of a range: like parseTime, but a bare date means "through the end of that day". */
function parseUntil(value: string | null, param: string): number | undefined {
  const ms = parseTime(value, param);
  return ms !== undefined && /^\d{4}-\d{2}-\d{2}$/.test(value ?? "") ? ms + 86_400_000 : ms;
}

export function parseUsageQuery(params: URLSearchParams): { filter: UsageFilter; groupBy: UsageGroup; format: "json" | "csv" } {
  const groupBy = (params.get("group_by") ?? "day") as UsageGroup;
  if (!GROUPS.includes(groupBy)) throw new ApiError({ code: "invalid_request", message: "group_by must be day, model or key", param: "group_by" });
  const format = params.get("format") === "csv" ? "csv" : "json";
  const env = params.get("env");
  return {
    filter: {
      model: params.get("model") ?? undefined,
      from: parseTime(params.get("from"), "from"),
      to: parseUntil(params.get("to"), "to"),
      env: env === "live" || env === "test" ? env : undefined,
    },
    groupBy,
    format,
  };
}

/** The row shape of DESIGN.md: `{<group>, requests, input_tokens, output_tokens, cost_usd}`. */
export function usageRowsJson(rows: UsageRow[], groupBy: UsageGroup) {
  return rows.map((row) => ({
    [groupBy]: row.group,
    requests: row.requests,
    input_tokens: row.inputTokens,
    output_tokens: row.outputTokens,
    cached_input_tokens: row.cachedInputTokens,
    cost_usd: nanoToUsd(row.costNanoUsd),
  }));
}

function usageCsv(rows: UsageRow[], groupBy: UsageGroup): string {
  const escape = (value: string) => (/[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);
  const lines = [`${groupBy},requests,input_tokens,output_tokens,cached_input_tokens,cost_usd`];
  for (const row of rows) {
    lines.push([escape(row.group), row.requests, row.inputTokens, row.outputTokens, row.cachedInputTokens, nanoToUsd(row.costNanoUsd)].join(","));
  }
  return lines.join("\n") + "\n";
}

/** The CSV download both usage endpoints answer `format=csv` with. */
export function usageCsvResponse(rows: UsageRow[], groupBy: UsageGroup): Response {
  return new Response(usageCsv(rows, groupBy), { headers: { "content-type": "text/csv; charset=utf-8", "content-disposition": 'attachment; filename="usage.csv"' } });
}
