// The projects page: balance, spend this month and key count per project; create a project.

import type { ProjectSummary } from "../../../projects/repository";
import { html } from "../html";
import type { AdminSession, Flash } from "../sessions";
import { formatUsd } from "./format";
import { csrfField, page } from "./layout";

export interface ProjectsView {
  session: AdminSession;
  flash: Flash;
  projects: ProjectSummary[];
  /** Project id → spend since the start of this UTC month, nano-USD. */
  spendThisMonth: Map<string, number>;
  startingCreditsNanoUsd: number;
}

export function projectsPage(view: ProjectsView): string {
  const rows = view.projects.map(
    (project) => html`<tr>
      <td><a href="/admin/projects/${encodeURIComponent(project.id)}">${project.name}</a></td>
      <td class="num">${formatUsd(project.balanceNanoUsd)}</td>
      <td class="num">${formatUsd(view.spendThisMonth.get(project.id) ?? 0)}</td>
      <td class="num">${project.keyCount}</td>
      <td><a href="/admin/usage?project=${encodeURIComponent(project.id)}">usage</a></td>
    </tr>`,
  );
  return page({
    title: "Projects",
    session: view.session,
    flash: view.flash,
    body: html`<h1>Projects</h1>
      <div class="scroll"><table id="projects">
        <thead><tr><th>Project</th><th class="num">Balance</th><th class="num">Spend this month</th><th class="num">Keys</th><th></th></tr></thead>
        <tbody>${rows.length > 0 ? rows : html`<tr><td colspan="5" class="muted">No projects yet.</td></tr>`}</tbody>
      </table></div>
      <h2>Create a project</h2>
      <section class="card">
        <form method="post" action="/admin/projects" class="stack">
          ${csrfField(view.session)}
          <label>Name <input name="name" required maxlength="100"></label>
          <label>Starting credits (USD) <input name="credits_usd" inputmode="decimal" placeholder="${formatUsd(view.startingCreditsNanoUsd).replace("$", "")}"></label>
          <button type="submit">Create project</button>
        </form>
      </section>`,
  });
}
