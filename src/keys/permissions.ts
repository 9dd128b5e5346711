// What a key may do: scopes per endpoint and the model allow-list (globs like `claude-*`).

import { ApiError } from "../shared/errors";
import type { KeyRecord, Scope } from "./repository";

const globCache = new Map<string, RegExp>();

/**
 * An allow-list glob: `*` matches any run of characters (slashes included, so `*` opens
 * `meta/llama`), `?` one character, everything else is literal. Deliberately not Bun.Glob: its
 * `!pattern` negation would match every *other* model and widen the list, and `{a,b}`/`[..]`
 * are path syntax nobody means in a model name.
 */
function glob(pattern: string): RegExp {
  let compiled = globCache.get(pattern);
  if (!compiled) {
    const source = Array.from(pattern, (ch) => (ch === "*" ? ".*" : ch === "?" ? "." : ch.replace(/[.+^${}()|[\]\\]/g, "\\$&"))).join("");
    compiled = new RegExp(`^${source}$`, "su");
    globCache.set(pattern, compiled);
  }
  return compiled;
}

/** Throws 403 `insufficient_scope` unless the key has `scope`. */
export function requireScope(key: KeyRecord, scope: Scope): void {
  if (key.scopes.includes(scope)) return;
  throw new ApiError({
    code: "insufficient_scope",
    message: `This key lacks the '${scope}' scope required for this endpoint (it has: ${key.scopes.join(", ") || "none"})`,
  });
}

/** True when the key's allow-list (if any) matches the model name. */
export function isModelAllowed(key: KeyRecord, model: string): boolean {
  if (key.models === null) return true;
  return key.models.some((pattern) => pattern === model || glob(pattern).test(model));
}

export function requireModelAllowed(key: KeyRecord, model: string): void {
  if (isModelAllowed(key, model)) return;
  throw new ApiError({ code: "model_not_allowed", message: `This key is not allowed to use the model '${model}'`, param: "model" });
}
