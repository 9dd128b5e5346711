// The usage page: a date-range filter, spend per day (SVG), totals by model and by key (all
// from hourly rollups), and the paged list of recent raw requests.

import type { KeyRecord } from "../../../keys/repository";
import type { Project } from "../../../projects/repository";
import type { UsageRepository, UsageRow } from "../../../usage/repository";
import { html, type SafeHtml } from "../html";
import type { AdminSession, Flash } from "../sessions";
import { spendChart, type DayBar } from "./chart";
import { formatCount, formatTime, formatUsd } from "./format";
import { page } from "./layout";

export type RecentRequest = ReturnType<UsageRepository["recent"]>[number];

export interface UsageView {
  session: AdminSession;
  flash: Flash;
  projects: Project[];
  /** Keys offered in the key filter (the chosen project's). */
  keys: KeyRecord[];
  /** The filter as submitted: ids and `YYYY-MM-DD` dates (both inclusive). */
  filter: { project?: string; key?: string; from: string; to: string };
  days: DayBar[];
  byModel: UsageRow[];
  byKey: UsageRow[];
  /** Key id → how to show it. */
  keyLabels: Map<string, string>;
  recent: RecentRequest[];
  page: number;
  hasMore: boolean;
}

function filterForm(view: UsageView): SafeHtml {
  const { filter } = view;
  return html`<form method="get" action="/admin/usage" class="stack" id="usage-filter">
    <label>Project <select name="project">
      <option value="">all projects</option>
      ${view.projects.map((p) => html`<option value="${p.id}"${p.id === filter.project ? html` selected` : ""}>${p.name}</option>`)}
    </select></label>
    ${filter.project
      ? html`<label>Key <select name="key"><option value="">all keys</option>
          ${view.keys.map((k) => html`<option value="${k.id}"${k.id === filter.key ? html` selected` : ""}>${k.name} (${k.display})</option>`)}
        </select></label>`
      : ""}
    <label>From <input type="date" name="from" value="${filter.from}"></label>
    <label>To <input type="date" name="to" value="${filter.to}"></label>
    <button type="submit">Show</button>
  </form>`;
}

function totalsTable(id: string, heading: string, rows: UsageRow[], label: (row: UsageRow) => string): SafeHtml {
  return html`<div class="scroll"><table id="${id}">
    <thead><tr><th>${heading}</th><th class="num">Requests</th><th class="num">Input tokens</th><th class="num">Output tokens</th><th class="num">Cost</th></tr></thead>
    <tbody>${rows.length > 0
      ? rows.map(
          (row) => html`<tr><td>${label(row)}</td><td class="num">${formatCount(row.requests)}</td><td class="num">${formatCount(row.inputTokens)}</td>
            <td class="num">${formatCount(row.outputTokens)}</td><td class="num">${formatUsd(row.costNanoUsd)}</td></tr>`,
        )
      : html`<tr><td colspan="5" class="muted">No usage in this range.</td></tr>`}</tbody>
  </table></div>`;
}

function recentTable(view: UsageView): SafeHtml {
  const rows = view.recent.map(
    (r) => html`<tr data-request-id="${r.id}">
      <td>${formatTime(r.createdAt)}</td><td><code>${r.keyDisplay ?? r.keyId}</code></td><td>${r.model}</td>
      <td class="num">${formatCount(r.inputTokens)} / ${formatCount(r.outputTokens)}</td><td class="num">${formatUsd(r.costNanoUsd)}</td>
      <td class="num">${formatCount(r.latencyMs)} ms</td><td class="num">${r.status}</td>
    </tr>`,
  );
  const link = (pageNumber: number) => {
    const params = new URLSearchParams({ from: view.filter.from, to: view.filter.to, page: String(pageNumber) });
    if (view.filter.project) params.set("project", view.filter.project);
    if (view.filter.key) params.set("key", view.filter.key);
    return `/admin/usage?${params}#recent`;
  };
  return html`<div class="scroll"><table id="recent">
      <thead><tr><th>Time (UTC)</th><th>Key</th><th>Model</th><th class="num">Tokens in / out</th><th class="num">Cost</th><th class="num">Latency</th><th class="num">Status</th></tr></thead>
      <tbody>${rows.length > 0 ? rows : html`<tr><td colspan="7" class="muted">No requests on this page.</td></tr>`}</tbody>
    </table></div>
    <nav class="pager">
      <span>${view.page > 1 ? html`<a href="${link(view.page - 1)}" rel="prev">← Newer</a>` : ""}</span>
      <span class="muted">page ${view.page}</span>
      <span>${view.hasMore ? html`<a href="${link(view.page + 1)}" rel="next">Older →</a>` : ""}</span>
    </nav>`;
}

export function usagePage(view: UsageView): string {
  const total = view.byModel.reduce((sum, row) => ({ requests: sum.requests + row.requests, cost: sum.cost + row.costNanoUsd }), { requests: 0, cost: 0 });
  return page({
    title: "Usage",
    session: view.session,
    flash: view.flash,
    body: html`<h1>Usage</h1>
      <section class="card">${filterForm(view)}</section>
      <div class="stats">
        <div>Requests<strong id="total-requests">${formatCount(total.requests)}</strong></div>
        <div>Spend<strong id="total-spend">${formatUsd(total.cost)}</strong></div>
      </div>
      <h2>Spend per day</h2>
      <section class="card">${spendChart(view.days)}</section>
      <h2>By model</h2>
      ${totalsTable("by-model", "Model", view.byModel, (row) => row.group)}
      <h2>By key</h2>
      ${totalsTable("by-key", "Key", view.byKey, (row) => view.keyLabels.get(row.group) ?? row.group)}
      <h2 id="recent-heading">Recent requests</h2>
      ${recentTable(view)}`,
  });
}
