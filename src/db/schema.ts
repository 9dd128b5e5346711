// The drizzle schema: projects, their keys, the append-only credit ledger, per-request usage
// rows and hourly usage rollups. Money columns are integer nano-USD; times are epoch ms.

import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const projects = sqliteTable("projects", {
  id: text("id").primaryKey(),
  name: text("name").notNull().unique(),
  /** Cached sum of this project's ledger entries; changed only with an entry, in one transaction. */
  balanceNanoUsd: integer("balance_nano_usd").notNull().default(0),
  createdAt: integer("created_at").notNull(),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().references(() => projects.id),
    name: text("name").notNull(),
    env: text("env", { enum: ["live", "test"] }).notNull(),
    /** SHA-256 of the secret, hex; the secret itself is never stored. */
    keyHash: text("key_hash").notNull().unique(),
    /** `pr-live-a1b2…o5p6`, safe to show and log. */
    display: text("display").notNull(),
    /** JSON array of scopes. */
    scopes: text("scopes").notNull(),
    /** JSON array of model globs, or null for every model. */
    models: text("models"),
    spendLimitNanoUsd: integer("spend_limit_nano_usd"),
    limitReset: text("limit_reset", { enum: ["daily", "weekly", "monthly"] }),
    rpm: integer("rpm"),
    tpm: integer("tpm"),
    expiresAt: integer("expires_at"),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at"),
    /** When the key stops working; may lie in the future during a rotation's grace period. */
    revokedAt: integer("revoked_at"),
    /** The key that replaced this one by rotation. */
    replacedBy: text("replaced_by"),
    /**
     * The id of the first key of a rotation chain (its own id for a fresh key): every key
     * rotated from it shares one spend window and one rate-limit budget.
     */
    lineageId: text("lineage_id"),
  },
  (table) => [index("api_keys_project").on(table.projectId), index("api_keys_lineage").on(table.lineageId)],
);

export const ledgerEntries = sqliteTable(
  "ledger_entries",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    projectId: text("project_id").notNull().references(() => projects.id),
    kind: text("kind", { enum: ["grant", "charge", "refund", "adjustment"] }).notNull(),
    /** Signed: grants positive, charges negative. */
    amountNanoUsd: integer("amount_nano_usd").notNull(),
    /** Unique per charge, so a request can never be charged twice. */
    requestId: text("request_id").unique(),
    keyId: text("key_id"),
    note: text("note"),
    createdAt: integer("created_at").notNull(),
  },
  (table) => [index("ledger_project").on(table.projectId)],
);

export const requests = sqliteTable(
  "requests",
  {
    /**
     * Commit order (the rowid). Settlement commits only this row before the answer; the ledger
     * charge and rollup follow in batches, up to `settlement_watermark.applied_seq`.
     */
    seq: integer("seq").primaryKey(),
    id: text("id").notNull(),
    projectId: text("project_id").notNull(),
    keyId: text("key_id").notNull(),
    env: text("env").notNull(),
    endpoint: text("endpoint").notNull(),
    model: text("model").notNull(),
    provider: text("provider"),
    upstreamModel: text("upstream_model"),
    stream: integer("stream", { mode: "boolean" }).notNull(),
    status: integer("status").notNull(),
    inputTokens: integer("input_tokens").notNull(),
    outputTokens: integer("output_tokens").notNull(),
    cachedInputTokens: integer("cached_input_tokens").notNull(),
    costNanoUsd: integer("cost_nano_usd").notNull(),
    /** `reported` by the upstream, `estimated` from the text, or `none`. */
    usageSource: text("usage_source").notNull(),
    latencyMs: integer("latency_ms").notNull(),
    createdAt: integer("created_at").notNull(),
    /**
     * 0 from the commit until the applier has applied the row (seq ≤ the watermark), then 1.
     * The secondary indexes hold applied rows only, so the commit a request waits for
     * writes one B-tree page instead of three; the applier adds rows to them in batches.
     * A query must say `applied = 1` for SQLite to use them (readers catch up first).
     */
    applied: integer("applied").notNull().default(1),
  },
  (table) => [
    uniqueIndex("requests_id_unique").on(table.id).where(sql`applied = 1`),
    index("requests_project_time").on(table.projectId, table.createdAt).where(sql`applied = 1`),
  ],
);

/**
 * One row: the last `requests.seq` whose charge, rollup and balance change are in the ledger.
 * Rows after it are settled (durable) but not yet applied; every reader of derived data
 * applies them first (see credits/settlement-applier.ts).
 */
export const settlementWatermark = sqliteTable("settlement_watermark", {
  id: integer("id").primaryKey(),
  appliedSeq: integer("applied_seq").notNull(),
});

export const usageHourly = sqliteTable(
  "usage_hourly",
  {
    projectId: text("project_id").notNull(),
    keyId: text("key_id").notNull(),
    model: text("model").notNull(),
    env: text("env").notNull(),
    /** Start of the UTC hour, epoch ms. */
    hour: integer("hour").notNull(),
    requests: integer("requests").notNull(),
    inputTokens: integer("input_tokens").notNull(),
    outputTokens: integer("output_tokens").notNull(),
    cachedInputTokens: integer("cached_input_tokens").notNull(),
    costNanoUsd: integer("cost_nano_usd").notNull(),
  },
  (table) => [
    primaryKey({ columns: [table.projectId, table.keyId, table.model, table.env, table.hour] }),
    index("usage_hourly_key_hour").on(table.keyId, table.hour),
    index("usage_hourly_hour").on(table.hour),
  ],
);

/** Small server-wide values, e.g. the hash of a generated admin token. */
export const settings = sqliteTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});
