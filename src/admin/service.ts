// What the admin API and the CLI both do, returning the JSON of DESIGN.md's admin contract.
// Amounts arrive as USD decimals and are stored as nano-USD.

import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import type { KeyRecord, KeySettings } from "../keys/repository";
import type { IssuedKey } from "../keys/service";
import type { Project } from "../projects/repository";
import { ApiError } from "../shared/errors";
import { nanoToUsd, usdToNano } from "../shared/money";
import { parseUsageQuery, usageCsvResponse, usageRowsJson } from "../usage/query";
import type { UsageFilter, UsageGroup } from "../usage/repository";
import type { Runtime } from "../runtime";
import { CreateKeyBody, CreateProjectBody, CreditsBody, RotateKeyBody, UpdateKeyBody, type CreateKeyInput, type UpdateKeyInput } from "./model";

/** Validates `body` against `schema` or throws a 400 naming the first bad field. */
export function validated<T extends TSchema>(schema: T, body: unknown): import("@sinclair/typebox").Static<T> {
  const first = Value.Errors(schema, body).First();
  if (first) {
    const param = first.path.split("/").filter(Boolean).join(".") || "body";
    throw new ApiError({ code: "invalid_request", message: `${param}: ${first.message.toLowerCase()}`, param });
  }
  return body as import("@sinclair/typebox").Static<T>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function projectJson(project: Project & { keyCount?: number }) {
  return {
    id: project.id,
    name: project.name,
    balance_usd: nanoToUsd(project.balanceNanoUsd),
    ...(project.keyCount === undefined ? {} : { key_count: project.keyCount }),
    created_at: iso(project.createdAt),
  };
}

export function keyJson(key: KeyRecord) {
  return {
    id: key.id,
    project: key.projectName,
    project_id: key.projectId,
    name: key.name,
    env: key.env,
    display: key.display,
    scopes: key.scopes,
    models: key.models,
    spend_limit_usd: key.spendLimitNanoUsd === null ? null : nanoToUsd(key.spendLimitNanoUsd),
    limit_reset: key.limitReset,
    rpm: key.rpm,
    tpm: key.tpm,
    expires_at: iso(key.expiresAt),
    created_at: iso(key.createdAt),
    last_used_at: iso(key.lastUsedAt),
    revoked_at: iso(key.revokedAt),
    replaced_by: key.replacedBy,
  };
}

function issuedJson(issued: IssuedKey) {
  return { ...keyJson(issued.record), key: issued.secret };
}

export function findProjectOrThrow(runtime: Runtime, idOrName: string): Project {
  const project = runtime.projects.find(idOrName);
  if (!project) throw new ApiError({ code: "not_found", message: `No project named or with id '${idOrName}'`, param: "project" });
  return project;
}

export function createProject(runtime: Runtime, body: unknown) {
  const input = validated(CreateProjectBody, body);
  if (runtime.projects.find(input.name)) throw new ApiError({ code: "conflict", message: `A project named '${input.name}' already exists`, param: "name" });
  const starting = input.credits_usd === undefined ? runtime.config.startingCreditsNanoUsd : usdToNano(input.credits_usd);
  return projectJson(runtime.projects.create(input.name, starting, runtime.clock.now()));
}

export function listProjects(runtime: Runtime) {
  return { data: runtime.projects.list().map(projectJson) };
}

export function grantCredits(runtime: Runtime, projectIdOrName: string, body: unknown) {
  const input = validated(CreditsBody, body);
  const project = findProjectOrThrow(runtime, projectIdOrName);
  const amount = usdToNano(input.amount_usd);
  if (amount === 0) throw new ApiError({ code: "invalid_request", message: "amount_usd must not be zero", param: "amount_usd" });
  const { entry, balanceNanoUsd } = runtime.ledger.addEntry(project.id, amount > 0 ? "grant" : "adjustment", amount, input.note ?? null, runtime.clock.now());
  runtime.credits.clearCaches();
  return {
    entry: { id: entry.id, project: project.name, kind: entry.kind, amount_usd: nanoToUsd(entry.amountNanoUsd), note: entry.note, created_at: iso(entry.createdAt) },
    balance_usd: nanoToUsd(balanceNanoUsd),
  };
}

export function showCredits(runtime: Runtime, projectIdOrName: string) {
  const project = findProjectOrThrow(runtime, projectIdOrName);
  const totals = runtime.ledger.totals(project.id);
  return {
    project: project.name,
    balance_usd: nanoToUsd(runtime.ledger.balance(project.id) ?? 0),
    total_credits_usd: nanoToUsd(totals.creditsNanoUsd),
    total_usage_usd: nanoToUsd(totals.usageNanoUsd),
    entries: runtime.ledger.entries(project.id, 20).map((e) => ({ id: e.id, kind: e.kind, amount_usd: nanoToUsd(e.amountNanoUsd), request_id: e.requestId, note: e.note, created_at: iso(e.createdAt) })),
  };
}

function parseExpiry(value: string | number | null | undefined, now: number): number | null | undefined {
  if (value === undefined || value === null) return value;
  const ms = typeof value === "number" ? value : Date.parse(value);
  if (Number.isNaN(ms)) throw new ApiError({ code: "invalid_request", message: "expires_at must be an ISO date or epoch milliseconds", param: "expires_at" });
  if (ms <= now) throw new ApiError({ code: "invalid_request", message: "expires_at must be in the future", param: "expires_at" });
  return ms;
}

function settingsFrom(input: UpdateKeyInput, now: number): Partial<KeySettings> {
  const out: Partial<KeySettings> = {};
  if (input.name !== undefined) out.name = input.name;
  if (input.scopes !== undefined) out.scopes = [...new Set(input.scopes)];
  if (input.models !== undefined) out.models = input.models;
  if (input.spend_limit_usd !== undefined) out.spendLimitNanoUsd = input.spend_limit_usd === null ? null : usdToNano(input.spend_limit_usd);
  if (input.limit_reset !== undefined) out.limitReset = input.limit_reset;
  if (input.rpm !== undefined) out.rpm = input.rpm;
  if (input.tpm !== undefined) out.tpm = input.tpm;
  const expiresAt = parseExpiry(input.expires_at, now);
  if (expiresAt !== undefined) out.expiresAt = expiresAt;
  return out;
}

export function createKey(runtime: Runtime, body: unknown) {
  const input: CreateKeyInput = validated(CreateKeyBody, body);
  const project = findProjectOrThrow(runtime, input.project);
  const now = runtime.clock.now();
  const settings: KeySettings = {
    projectId: project.id,
    name: input.name ?? "default",
    env: input.env ?? "live",
    scopes: ["inference", "read"],
    models: null,
    spendLimitNanoUsd: null,
    limitReset: null,
    rpm: null,
    tpm: null,
    expiresAt: null,
    ...settingsFrom(input, now),
  };
  return issuedJson(runtime.keys.create(settings, now));
}

function findKeyOrThrow(runtime: Runtime, id: string): KeyRecord {
  const key = runtime.keys.find(id);
  if (!key) throw new ApiError({ code: "not_found", message: `No key with id '${id}'` });
  return key;
}

export function listKeys(runtime: Runtime, projectIdOrName: string | null | undefined) {
  const projectId = projectIdOrName ? findProjectOrThrow(runtime, projectIdOrName).id : undefined;
  return { data: runtime.keys.list(projectId).map(keyJson) };
}

export function revokeKey(runtime: Runtime, id: string) {
  findKeyOrThrow(runtime, id);
  return keyJson(runtime.keys.revoke(id, runtime.clock.now()));
}

export function rotateKey(runtime: Runtime, id: string, body: unknown) {
  const input = validated(RotateKeyBody, body ?? {});
  findKeyOrThrow(runtime, id);
  return issuedJson(runtime.keys.rotate(id, input.grace_seconds ?? 0, runtime.clock.now()));
}

export function updateKey(runtime: Runtime, id: string, body: unknown) {
  const input = validated(UpdateKeyBody, body);
  findKeyOrThrow(runtime, id);
  return keyJson(runtime.keys.update(id, settingsFrom(input, runtime.clock.now())));
}

type UsageQuery = { project?: string | null; key?: string | null; model?: string | null; from?: string | null; to?: string | null; group_by?: string | null; env?: string | null; format?: string | null };

/** Usage across projects (admins) as JSON: the filters and row shape of /v1/usage. */
export function adminUsage(runtime: Runtime, query: UsageQuery) {
  const { rows, groupBy } = summarizeUsage(runtime, query);
  return { group_by: groupBy, data: usageRowsJson(rows, groupBy) };
}

/** `GET /admin/api/usage`: JSON, or the CSV download with `format=csv`. */
export function adminUsageAnswer(runtime: Runtime, query: UsageQuery) {
  if (query.format !== "csv") return adminUsage(runtime, query);
  const { rows, groupBy } = summarizeUsage(runtime, query);
  return usageCsvResponse(rows, groupBy);
}

/** `project?, key?, model?, env?, from?, to?, group_by?, format?`, over every project unless one is named. */
function summarizeUsage(runtime: Runtime, query: UsageQuery) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (typeof value === "string") params.set(name, value);
  const { filter, groupBy, format } = parseUsageQuery(params);
  const projectId = query.project ? findProjectOrThrow(runtime, query.project).id : undefined;
  const rows = runtime.usage.summarize({ ...filter, projectId, keyId: query.key ?? undefined }, groupBy);
  return { rows, groupBy, format };
}
