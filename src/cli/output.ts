// How CLI commands print: JSON with --json, otherwise a short human form.

export function printResult(value: unknown, json: boolean, human: () => string): void {
  process.stdout.write((json ? JSON.stringify(value, null, 2) : human()) + "\n");
}

/** Fixed-width columns for lists. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return "(none)";
  const cell = (v: unknown) => (v === null || v === undefined ? "-" : Array.isArray(v) ? v.join(",") : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(columns), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join("\n");
}
