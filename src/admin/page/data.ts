// What each admin page shows, gathered from the repositories. Totals come from the hourly
// rollups; only the paged recent-requests list reads raw request rows (through an index).

import { startOfUtcMonth } from "../../credits/windows";
import type { Project } from "../../projects/repository";
import type { Runtime } from "../../runtime";
import type { UsageFilter } from "../../usage/repository";
import { fillDays } from "./views/chart";
import { formatDay } from "./views/format";
import type { ProjectView } from "./views/project";
import type { ProjectsView } from "./views/projects";
import type { UsageView } from "./views/usage";

const DAY_MS = 86_400_000;
export const RECENT_PAGE_SIZE = 50;
const DEFAULT_RANGE_DAYS = 30;

type PageData<T> = Omit<T, "session" | "flash">;

export function projectsData(runtime: Runtime): PageData<ProjectsView> {
  return {
    projects: runtime.projects.list(),
    spendThisMonth: runtime.usage.costByProject(startOfUtcMonth(runtime.clock.now())),
    startingCreditsNanoUsd: runtime.config.startingCreditsNanoUsd,
  };
}

export function projectData(runtime: Runtime, project: Project): PageData<ProjectView> {
  const now = runtime.clock.now();
  return {
    project,
    spendThisMonthNanoUsd: runtime.usage.totalCost({ projectId: project.id, from: startOfUtcMonth(now) }),
    keys: runtime.keys.list(project.id),
    modelNames: Object.keys(runtime.config.models),
    now,
  };
}

export interface UsageQuery {
  project?: string;
  key?: string;
  from?: string;
  to?: string;
  page?: string;
}

const isDay = (value: string | undefined): value is string => !!value && /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value));

/** The usage page for a filter; dates are UTC days, both ends inclusive, last 30 days by default. */
export function usageData(runtime: Runtime, query: UsageQuery): PageData<UsageView> & { error?: string } {
  let to = isDay(query.to) ? query.to : formatDay(runtime.clock.now());
  let from = isDay(query.from) ? query.from : formatDay(Date.parse(to) - (DEFAULT_RANGE_DAYS - 1) * DAY_MS);
  if (from > to) [from, to] = [to, from];
  const fromMs = Date.parse(from);
  const toMs = Date.parse(to) + DAY_MS;

  const project = query.project ? runtime.projects.find(query.project) : undefined;
  const error = query.project && !project ? `No project '${query.project}'` : undefined;
  const keyId = project && query.key ? query.key : undefined;
  // An unknown project matches nothing rather than silently showing every project.
  const filter: UsageFilter = { projectId: project?.id ?? (query.project ? "-" : undefined), keyId, from: fromMs, to: toMs };

  const days = new Map(runtime.usage.summarize(filter, "day").map((row) => [row.group, { costNanoUsd: row.costNanoUsd, requests: row.requests }]));
  const keys = runtime.keys.list(project?.id);
  const keyLabels = new Map(keys.map((key) => [key.id, project ? `${key.name} (${key.display})` : `${key.projectName} / ${key.name} (${key.display})`]));
  const page = Math.max(1, Math.min(10_000, Math.floor(Number(query.page)) || 1));
  const recent = runtime.usage.recent(filter, RECENT_PAGE_SIZE + 1, (page - 1) * RECENT_PAGE_SIZE);

  return {
    projects: runtime.projects.list(),
    keys: project ? keys : [],
    filter: { project: project?.id, key: keyId, from, to },
    days: fillDays(days, fromMs, toMs),
    byModel: runtime.usage.summarize(filter, "model"),
    byKey: runtime.usage.summarize(filter, "key"),
    keyLabels,
    recent: recent.slice(0, RECENT_PAGE_SIZE),
    page,
    hasMore: recent.length > RECENT_PAGE_SIZE,
    error,
  };
}
