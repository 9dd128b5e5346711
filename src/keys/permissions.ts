// What a key may do: scopes per endpoint and the model allow-list (globs like `claude-*`).

import { ApiError } from "../shared/errors";
import type { KeyRecord, Scope } from "./repository";

const globCache = new Map<string, Bun.Glob>();

function glob(pattern: string): Bun.Glob {
  let compiled = globCache.get(pattern);
  if (!compiled) {
    compiled = new Bun.Glob(pattern);
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
  return key.models.some((pattern) => pattern === model || glob(pattern).match(model));
}

export function requireModelAllowed(key: KeyRecord, model: string): void {
  if (isModelAllowed(key, model)) return;
  throw new ApiError({ code: "model_not_allowed", message: `This key is not allowed to use the model '${model}'`, param: "model" });
}
