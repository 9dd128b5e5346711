// `${VAR}` and `${VAR:-default}` expansion inside the string values of a parsed YAML tree.
// Done after parsing, so a secret's characters can never change the YAML's structure.

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface MissingVariable {
  /** Dotted path of the field that names the variable, e.g. `providers.openai.api_key`. */
  path: string;
  variable: string;
}

/** Returns a copy of `value` with variables expanded, plus every unset variable without a default. */
export function interpolateEnv(value: unknown, env: Record<string, string | undefined>): { value: unknown; missing: MissingVariable[] } {
  const missing: MissingVariable[] = [];
  const walk = (node: unknown, path: string[]): unknown => {
    if (typeof node === "string") {
      const whole = node.match(/^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/);
      const expanded = node.replace(VARIABLE, (_, name: string, fallback: string | undefined) => {
        const found = env[name];
        if (found !== undefined && found !== "") return found;
        if (fallback !== undefined) return fallback;
        missing.push({ path: path.join("."), variable: name });
        return "";
      });
      // `port: ${PORT:-8080}` should be the number 8080, as if written bare.
      if (whole && expanded !== "" && /^-?\d+(\.\d+)?$/.test(expanded)) return Number(expanded);
      if (whole && (expanded === "true" || expanded === "false")) return expanded === "true";
      return expanded;
    }
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, String(i)]));
    if (node && typeof node === "object") {
      return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, walk(item, [...path, key])]));
    }
    return node;
  };
  return { value: walk(value, []), missing };
}
