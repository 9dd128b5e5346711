// The CLI against a temporary database: projects, keys and credits with --json output, the
// secret printed once (on creation) and never again.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "parrotrouter-cli-"));
const config = join(dir, "config.yaml");
writeFileSync(config, `database: { path: ${JSON.stringify(join(dir, "cli.db"))} }\ncredits: { starting_usd: 3 }\nproviders:\n  sim: { type: mock }\nmodels:\n  m: { routes: [sim/m] }\n`);

function run(...args: string[]) {
  const result = Bun.spawnSync([process.execPath, "src/main.ts", ...args, "--config", config], { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}
const json = (...args: string[]) => {
  const result = run(...args, "--json");
  if (result.code !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout);
};

describe("parrotrouter CLI", () => {
  test("projects create gives starting credits from config unless --credits is set", () => {
    expect(json("projects", "create", "alpha").balance_usd).toBe(3);
    expect(json("projects", "create", "beta", "--credits", "12.5").balance_usd).toBe(12.5);
    const names = json("projects", "list").data.map((p: { name: string }) => p.name);
    expect(names).toEqual(["alpha", "beta"]);
  });

  test("a duplicate project name is refused with a readable error, exit 1", () => {
    const result = run("projects", "create", "alpha");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("already exists");
  });

  test("credits grant adds to the balance", () => {
    const result = json("credits", "grant", "alpha", "2.25");
    expect(result.balance_usd).toBe(5.25);
    expect(result.entry.kind).toBe("grant");
    expect(json("credits", "show", "alpha").balance_usd).toBe(5.25);
  });

  // Regression: parseArgs read `-0.5` as the short option `-0` ("Unknown option '0'").
  test("credits grant with a negative amount is an adjustment, as a positional or before other options", () => {
    const adjusted = json("credits", "grant", "alpha", "-0.5");
    expect(adjusted.entry).toMatchObject({ kind: "adjustment", amount_usd: -0.5 });
    expect(adjusted.balance_usd).toBe(4.75);
    const noted = json("credits", "grant", "alpha", "-.25", "--note", "refund of a duplicate grant");
    expect(noted.entry).toMatchObject({ kind: "adjustment", amount_usd: -0.25, note: "refund of a duplicate grant" });
    expect(json("credits", "show", "alpha").balance_usd).toBe(4.5);
  });

  test("an option that looks like a negative number is still an error, not an amount", () => {
    const result = run("credits", "grant", "alpha", "-x");
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("Unknown option");
  });

  test("keys create prints the secret once; list and revoke never show it", () => {
    const created = json("keys", "create", "--project", "alpha", "--name", "ci", "--env", "test", "--scope", "read", "--models", "gpt-4o,claude-*");
    expect(created.key).toMatch(/^pr-test-[a-z0-9]{32}$/);
    expect(created.scopes).toEqual(["read"]);
    expect(created.models).toEqual(["gpt-4o", "claude-*"]);
    const listed = run("keys", "list", "--project", "alpha", "--json");
    expect(listed.stdout).not.toContain(created.key);
    expect(JSON.parse(listed.stdout).data[0].display).toBe(created.display);
    const revoked = json("keys", "revoke", created.id);
    expect(revoked.revoked_at).not.toBeNull();
    expect(JSON.stringify(revoked)).not.toContain(created.key);
  });

  test("human output without --json", () => {
    const created = run("keys", "create", "--project", "beta");
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/pr-live-[a-z0-9]{32}/);
    expect(created.stdout).toContain("shown only once");
    expect(run("projects", "list").stdout).toContain("beta");
  });

  test("unknown commands print usage and fail", () => {
    const result = run("frobnicate");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("Usage: parrotrouter");
  });
});
