// TypeBox schemas of the admin API's request bodies (DESIGN.md "Admin API and CLI").

import { Type, type Static, type TSchema } from "@sinclair/typebox";

/** One grant, adjustment or limit: bounded so nano-USD stay exact integers (2^53 nano ≈ 9M USD). */
export const MAX_USD = 1_000_000;
const Usd = Type.Number({ minimum: -MAX_USD, maximum: MAX_USD });

export const CreateProjectBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100 }), credits_usd: Type.Optional(Type.Number({ minimum: 0, maximum: MAX_USD })) },
  { additionalProperties: false },
);
export const CreditsBody = Type.Object({ amount_usd: Usd, note: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false });

const Scope = Type.Union([Type.Literal("inference"), Type.Literal("read")]);
const LimitReset = Type.Union([Type.Literal("daily"), Type.Literal("weekly"), Type.Literal("monthly")]);
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const CreateKeyBody = Type.Object(
  {
    project: Type.String({ minLength: 1 }),
    name: Type.Optional(Type.String({ maxLength: 100 })),
    env: Type.Optional(Type.Union([Type.Literal("live"), Type.Literal("test")])),
    scopes: Type.Optional(Type.Array(Scope, { minItems: 1 })),
    models: Type.Optional(Type.Union([Type.Array(Type.String({ minLength: 1 })), Type.Null()])),
    spend_limit_usd: Type.Optional(Nullable(Type.Number({ minimum: 0, maximum: MAX_USD }))),
    limit_reset: Type.Optional(Type.Union([LimitReset, Type.Null()])),
    rpm: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))),
    tpm: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))),
    expires_at: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Null()])),
  },
  { additionalProperties: false },
);

export const UpdateKeyBody = Type.Omit(CreateKeyBody, ["project", "env"]);
export const RotateKeyBody = Type.Object({ grace_seconds: Type.Optional(Type.Number({ minimum: 0 })) }, { additionalProperties: false });

export type CreateKeyInput = Static<typeof CreateKeyBody>;
export type UpdateKeyInput = Static<typeof UpdateKeyBody>;
