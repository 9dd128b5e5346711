// The TypeBox schema of the YAML config (DESIGN.md §1 "Config shape"). Unknown fields are
// errors so typos cannot pass silently; defaults are filled in by load.ts.

import { Type, type Static } from "@sinclair/typebox";

const strict = { additionalProperties: false } as const;
const PositiveInt = Type.Integer({ minimum: 1 });
const NonNegativeNumber = Type.Number({ minimum: 0 });
/** USD amounts and prices: bounded so nano-USD arithmetic stays exact. */
const UsdAmount = Type.Number({ minimum: 0, maximum: 1_000_000 });

export const ServerSchema = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    max_body_mb: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** Seconds in-flight requests may take to finish after SIGTERM. */
    shutdown_grace_seconds: Type.Optional(NonNegativeNumber),
  },
  strict,
);

export const ProviderSchema = Type.Object(
  {
    type: Type.String({ minLength: 1 }),
    base_url: Type.Optional(Type.String()),
    api_key: Type.Optional(Type.String()),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    api_version: Type.Optional(Type.String({ minLength: 1 })),
    anthropic_version: Type.Optional(Type.String({ minLength: 1 })),
    /** Seconds to wait for the upstream's first byte (default 60). */
    first_byte_timeout_seconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** Seconds allowed between two streamed chunks (default 120). */
    idle_timeout_seconds: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    /** mock only: simulated latency before the answer and between chunks. */
    latency_ms: Type.Optional(NonNegativeNumber),
    chunk_delay_ms: Type.Optional(NonNegativeNumber),
  },
  strict,
);

const RouteObject = Type.Object(
  {
    target: Type.String({ minLength: 1 }),
    weight: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  },
  strict,
);

export const ModelSchema = Type.Object(
  {
    /** `provider/upstream-model` targets, in fallback order (or weighted). */
    routes: Type.Array(Type.Union([Type.String({ minLength: 1 }), RouteObject]), { minItems: 1 }),
    strategy: Type.Optional(Type.Union([Type.Literal("fallback"), Type.Literal("weighted")])),
    /** USD per million tokens. */
    pricing: Type.Optional(
      Type.Object(
        { input: Type.Optional(UsdAmount), output: Type.Optional(UsdAmount), cached_input: Type.Optional(UsdAmount) },
        strict,
      ),
    ),
    max_output_tokens: Type.Optional(PositiveInt),
  },
  strict,
);

export const ConfigSchema = Type.Object(
  {
    server: Type.Optional(ServerSchema),
    database: Type.Optional(Type.Object({ path: Type.Optional(Type.String({ minLength: 1 })) }, strict)),
    admin: Type.Optional(Type.Object({ token: Type.Optional(Type.String()) }, strict)),
    credits: Type.Optional(Type.Object({ starting_usd: Type.Optional(UsdAmount) }, strict)),
    log: Type.Optional(
      Type.Object({ level: Type.Optional(Type.Union(["debug", "info", "warn", "error"].map((l) => Type.Literal(l)))) }, strict),
    ),
    usage: Type.Optional(Type.Object({ retention_days: Type.Optional(PositiveInt) }, strict)),
    test_keys: Type.Optional(Type.Union([Type.Literal("simulate"), Type.Literal("live")])),
    /** Defaults for keys that set no limits of their own. */
    rate_limits: Type.Optional(Type.Object({ rpm: Type.Optional(PositiveInt), tpm: Type.Optional(PositiveInt) }, strict)),
    routing: Type.Optional(
      Type.Object(
        {
          /** Let clients name `provider/model` directly for configured providers. */
          allow_direct: Type.Optional(Type.Boolean()),
          /** Extra attempts on the same route before falling back. */
          retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
          /** Seconds a failing route is skipped. */
          cooldown_seconds: Type.Optional(NonNegativeNumber),
          /** Consecutive failures that put a route in cooldown. */
          cooldown_after_failures: Type.Optional(PositiveInt),
        },
        strict,
      ),
    ),
    providers: Type.Record(Type.String({ minLength: 1 }), ProviderSchema),
    models: Type.Record(Type.String({ minLength: 1 }), ModelSchema),
  },
  strict,
);

export type RawConfig = Static<typeof ConfigSchema>;
export type RawModel = Static<typeof ModelSchema>;
