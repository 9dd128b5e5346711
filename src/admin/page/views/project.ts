// One project: balance, credit grants, its keys (status, limits, revoke, rotate) and the form
// that issues a key. A newly issued secret arrives through the flash, shown once.

import type { KeyRecord } from "../../../keys/repository";
import type { Project } from "../../../projects/repository";
import { html, type SafeHtml } from "../html";
import type { AdminSession, Flash } from "../sessions";
import { formatTime, formatUsd, keyStatus } from "./format";
import { csrfField, page } from "./layout";

export interface ProjectView {
  session: AdminSession;
  flash: Flash;
  project: Project;
  spendThisMonthNanoUsd: number;
  keys: KeyRecord[];
  /** Configured model names, offered as suggestions for the allow-list. */
  modelNames: string[];
  now: number;
}

function limits(key: KeyRecord): string {
  const parts: string[] = [];
  if (key.spendLimitNanoUsd !== null) parts.push(`${formatUsd(key.spendLimitNanoUsd)}${key.limitReset ? ` ${key.limitReset}` : " total"}`);
  if (key.rpm !== null) parts.push(`${key.rpm} rpm`);
  if (key.tpm !== null) parts.push(`${key.tpm} tpm`);
  if (key.expiresAt !== null) parts.push(`expires ${formatTime(key.expiresAt)}`);
  return parts.join(", ") || "none";
}

function keyActions(session: AdminSession, key: KeyRecord, now: number): SafeHtml {
  const status = keyStatus(key, now);
  if (status === "revoked" || status === "expired") return html``;
  const id = encodeURIComponent(key.id);
  return html`<form class="inline" method="post" action="/admin/keys/${id}/revoke">${csrfField(session)}<button class="danger" type="submit" aria-label="Revoke ${key.display}">Revoke</button></form>
    ${status === "active"
      ? html`<form class="inline" method="post" action="/admin/keys/${id}/rotate">${csrfField(session)}
          <select name="grace_minutes" aria-label="Grace period for the old secret">
            <option value="0">old stops now</option><option value="60" selected>old works 1 h</option><option value="1440">old works 24 h</option>
          </select>
          <button class="secondary" type="submit">Rotate</button></form>`
      : ""}`;
}

function keyRow(session: AdminSession, key: KeyRecord, now: number): SafeHtml {
  const status = keyStatus(key, now);
  return html`<tr data-key-id="${key.id}">
    <td>${key.name}</td>
    <td><code>${key.display}</code></td>
    <td>${key.env}</td>
    <td>${key.scopes.join(", ")}</td>
    <td>${key.models?.join(", ") ?? "all"}</td>
    <td>${limits(key)}</td>
    <td>${formatTime(key.lastUsedAt)}</td>
    <td><span class="status ${status}">${status}</span>${status === "rotating" ? html` <span class="muted">until ${formatTime(key.revokedAt)}</span>` : ""}</td>
    <td>${keyActions(session, key, now)} <a href="/admin/usage?project=${encodeURIComponent(key.projectId)}&amp;key=${encodeURIComponent(key.id)}">usage</a></td>
  </tr>`;
}

function issueKeyForm(view: ProjectView): SafeHtml {
  return html`<form method="post" action="/admin/projects/${encodeURIComponent(view.project.id)}/keys" class="stack" id="issue-key">
    ${csrfField(view.session)}
    <label>Name <input name="name" maxlength="100" placeholder="default"></label>
    <label>Environment <select name="env"><option value="live">live</option><option value="test">test (simulated, free)</option></select></label>
    <fieldset><legend>Scopes</legend>
      <label><input type="checkbox" name="scopes" value="inference" checked> inference</label>
      <label><input type="checkbox" name="scopes" value="read" checked> read</label>
    </fieldset>
    <label>Models (comma-separated globs, empty = all) <input name="models" list="model-names" placeholder="gpt-4o, claude-*"></label>
    <datalist id="model-names">${view.modelNames.map((name) => html`<option value="${name}">`)}</datalist>
    <label>Spend limit (USD) <input name="spend_limit_usd" inputmode="decimal"></label>
    <label>Limit resets <select name="limit_reset"><option value="">never</option><option>daily</option><option>weekly</option><option>monthly</option></select></label>
    <label>Requests per minute <input name="rpm" inputmode="numeric"></label>
    <label>Tokens per minute <input name="tpm" inputmode="numeric"></label>
    <label>Expires on <input type="date" name="expires_at"></label>
    <button type="submit">Issue key</button>
  </form>`;
}

export function projectPage(view: ProjectView): string {
  const { project, session } = view;
  const id = encodeURIComponent(project.id);
  return page({
    title: project.name,
    session,
    flash: view.flash,
    body: html`<h1>${project.name}</h1>
      <div class="stats">
        <div>Balance<strong id="balance">${formatUsd(project.balanceNanoUsd)}</strong></div>
        <div>Spend this month<strong>${formatUsd(view.spendThisMonthNanoUsd)}</strong></div>
        <div>Keys<strong>${view.keys.length}</strong></div>
        <div><a href="/admin/usage?project=${id}">Usage of this project</a></div>
      </div>
      <h2>Keys</h2>
      <div class="scroll"><table id="keys">
        <thead><tr><th>Name</th><th>Key</th><th>Env</th><th>Scopes</th><th>Models</th><th>Limits</th><th>Last used</th><th>Status</th><th></th></tr></thead>
        <tbody>${view.keys.length > 0 ? view.keys.map((key) => keyRow(session, key, view.now)) : html`<tr><td colspan="9" class="muted">No keys yet.</td></tr>`}</tbody>
      </table></div>
      <h2>Issue a key</h2>
      <section class="card">${issueKeyForm(view)}</section>
      <h2>Grant or adjust credits</h2>
      <section class="card">
        <form method="post" action="/admin/projects/${id}/credits" class="stack" id="grant-credits">
          ${csrfField(session)}
          <label>Amount (USD, negative to deduct) <input name="amount_usd" inputmode="decimal" required></label>
          <label>Note <input name="note" maxlength="500"></label>
          <button type="submit">Apply</button>
        </form>
      </section>`,
  });
}
