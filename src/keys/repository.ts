// SQL for API keys. Routes and services never see SQL; they call these methods.

import { and, eq, gt, isNull, or, sql } from "drizzle-orm";
import type { Db } from "../db/connection";
import { apiKeys, projects } from "../db/schema";
import type { KeyEnv } from "./format";

export type Scope = "inference" | "read";
export const ALL_SCOPES: Scope[] = ["inference", "read"];
export type LimitReset = "daily" | "weekly" | "monthly";

/** A key as the server uses it; never holds the secret. */
export interface KeyRecord {
  id: string;
  projectId: string;
  projectName: string;
  name: string;
  env: KeyEnv;
  keyHash: string;
  display: string;
  scopes: Scope[];
  /** Model globs this key may call; null means every model. */
  models: string[] | null;
  spendLimitNanoUsd: number | null;
  limitReset: LimitReset | null;
  rpm: number | null;
  tpm: number | null;
  expiresAt: number | null;
  createdAt: number;
  lastUsedAt: number | null;
  /** When the key stops working (in the future during a rotation's grace period). */
  revokedAt: number | null;
  replacedBy: string | null;
  /**
   * The id of the first key of this key's rotation chain (its own id when it was never
   * rotated into): spend caps and rate limits are counted per lineage, so rotating a key
   * neither resets them nor doubles them during the grace period.
   */
  lineageId: string;
}

/** The settings a key is created with (and a rotation copies). */
export type KeySettings = Pick<
  KeyRecord,
  "projectId" | "name" | "env" | "scopes" | "models" | "spendLimitNanoUsd" | "limitReset" | "rpm" | "tpm" | "expiresAt"
>;

type Row = typeof apiKeys.$inferSelect & { projectName: string };

function toRecord(row: Row): KeyRecord {
  return {
    ...row,
    env: row.env as KeyEnv,
    scopes: JSON.parse(row.scopes) as Scope[],
    models: row.models === null ? null : (JSON.parse(row.models) as string[]),
    limitReset: row.limitReset as LimitReset | null,
    lineageId: row.lineageId ?? row.id,
  };
}

export class KeyRepository {
  private readonly byHash;

  constructor(private readonly db: Db) {
    this.byHash = db
      .select({ ...columns(), projectName: projects.name })
      .from(apiKeys)
      .innerJoin(projects, eq(projects.id, apiKeys.projectId))
      .where(eq(apiKeys.keyHash, sql.placeholder("hash")))
      .prepare();
  }

  findByHash(hash: string): KeyRecord | undefined {
    const row = this.byHash.get({ hash }) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  findById(id: string): KeyRecord | undefined {
    const row = this.db
      .select({ ...columns(), projectName: projects.name })
      .from(apiKeys)
      .innerJoin(projects, eq(projects.id, apiKeys.projectId))
      .where(eq(apiKeys.id, id))
      .get() as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  list(projectId?: string): KeyRecord[] {
    const query = this.db
      .select({ ...columns(), projectName: projects.name })
      .from(apiKeys)
      .innerJoin(projects, eq(projects.id, apiKeys.projectId));
    const rows = (projectId ? query.where(eq(apiKeys.projectId, projectId)) : query).orderBy(apiKeys.createdAt).all() as Row[];
    return rows.map(toRecord);
  }

  /** Stores a new key; `lineageId` is its predecessor's lineage when it comes from a rotation. */
  insert(id: string, settings: KeySettings, hash: string, display: string, now: number, lineageId = id): void {
    this.db
      .insert(apiKeys)
      .values({
        id,
        projectId: settings.projectId,
        name: settings.name,
        env: settings.env,
        keyHash: hash,
        display,
        scopes: JSON.stringify(settings.scopes),
        models: settings.models === null ? null : JSON.stringify(settings.models),
        spendLimitNanoUsd: settings.spendLimitNanoUsd,
        limitReset: settings.limitReset,
        rpm: settings.rpm,
        tpm: settings.tpm,
        expiresAt: settings.expiresAt,
        createdAt: now,
        lineageId,
      })
      .run();
  }

  /** Sets when the key stops working, unless it already stopped earlier. */
  revoke(id: string, at: number, replacedBy: string | null = null): void {
    this.db
      .update(apiKeys)
      .set({ revokedAt: at, ...(replacedBy ? { replacedBy } : {}) })
      .where(and(eq(apiKeys.id, id), or(isNull(apiKeys.revokedAt), gt(apiKeys.revokedAt, at))))
      .run();
  }

  /** Changes limits and allow-lists of a key. */
  update(id: string, changes: Partial<Pick<KeySettings, "name" | "scopes" | "models" | "spendLimitNanoUsd" | "limitReset" | "rpm" | "tpm" | "expiresAt">>): void {
    const set: Partial<typeof apiKeys.$inferInsert> = {};
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.scopes !== undefined) set.scopes = JSON.stringify(changes.scopes);
    if (changes.models !== undefined) set.models = changes.models === null ? null : JSON.stringify(changes.models);
    if (changes.spendLimitNanoUsd !== undefined) set.spendLimitNanoUsd = changes.spendLimitNanoUsd;
    if (changes.limitReset !== undefined) set.limitReset = changes.limitReset;
    if (changes.rpm !== undefined) set.rpm = changes.rpm;
    if (changes.tpm !== undefined) set.tpm = changes.tpm;
    if (changes.expiresAt !== undefined) set.expiresAt = changes.expiresAt;
    if (Object.keys(set).length === 0) return;
    this.db.update(apiKeys).set(set).where(eq(apiKeys.id, id)).run();
  }

  /** Writes batched last-used times in one transaction. */
  recordLastUsed(times: Map<string, number>): void {
    if (times.size === 0) return;
    this.db.transaction(
      (tx) => {
        for (const [id, at] of times) tx.update(apiKeys).set({ lastUsedAt: at }).where(eq(apiKeys.id, id)).run();
      },
      { behavior: "immediate" },
    );
  }
}

function columns() {
  return {
    id: apiKeys.id,
    projectId: apiKeys.projectId,
    name: apiKeys.name,
    env: apiKeys.env,
    keyHash: apiKeys.keyHash,
    display: apiKeys.display,
    scopes: apiKeys.scopes,
    models: apiKeys.models,
    spendLimitNanoUsd: apiKeys.spendLimitNanoUsd,
    limitReset: apiKeys.limitReset,
    rpm: apiKeys.rpm,
    tpm: apiKeys.tpm,
    expiresAt: apiKeys.expiresAt,
    createdAt: apiKeys.createdAt,
    lastUsedAt: apiKeys.lastUsedAt,
    revokedAt: apiKeys.revokedAt,
    replacedBy: apiKeys.replacedBy,
    lineageId: apiKeys.lineageId,
  };
}
