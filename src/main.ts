#!/usr/bin/env bun
// The parrotrouter command: `serve` (default), `check-config`, and the admin commands
// (`projects`, `keys`, `credits`, `usage`) that work on the database directly.

import { parseArgs } from "node:util";
import * as admin from "./admin/service";
import { printResult, table } from "./cli/output";
import { serve } from "./cli/serve";
import { ConfigError, loadConfigFile, resolveConfigPath, type AppConfig } from "./config/load";
import { summarizeConfig } from "./config/summary";
import { backupDatabase } from "./db/backup";
import { createRuntime } from "./runtime";
import { ApiError } from "./shared/errors";

const USAGE = `Usage: parrotrouter [command] [options]

Commands:
  serve                         start the server (default)
  check-config                  validate the config and print its providers, models and routes
  projects create NAME [--credits USD]
  projects list
  credits grant PROJECT USD [--note TEXT]
  credits show PROJECT
  keys create --project P [--name N] [--env live|test] [--scope inference,read]
              [--models 'gpt-4o,claude-*'] [--spend-limit USD] [--limit-reset daily|weekly|monthly]
              [--rpm N] [--tpm N] [--expires ISO-DATE]
  keys list [--project P]
  keys update KEY_ID [--name N] [--scope S] [--models M] [--spend-limit USD] [--limit-reset R]
              [--rpm N] [--tpm N] [--expires DATE]      ("none" clears models or a limit)
  keys revoke KEY_ID
  keys rotate KEY_ID [--grace SECONDS]
  usage [--project P] [--group-by day|model|key] [--from DATE] [--to DATE]
  backup FILE                   write a consistent copy of the database (safe while serving)
  healthcheck                   exit 0 when the local server answers /health (Docker HEALTHCHECK)

Options:
  --config FILE   config file (else $PARROTROUTER_CONFIG, ./config.yaml, config.example.yaml)
  --port N        override server.port
  --json          print JSON
`;

function fail(message: string, code = 1): never {
  process.stderr.write(message.endsWith("\n") ? message : message + "\n");
  process.exit(code);
}

function loadOrExit(configFlag: string | undefined): { config: AppConfig; warnings: string[] } {
  const path = resolveConfigPath(configFlag, process.env);
  try {
    return loadConfigFile(path);
  } catch (error) {
    if (error instanceof ConfigError) fail(`${error.message}\n`, 2);
    throw error;
  }
}

/** `-0.5`, `-3`, `-.25`: an amount, never a cluster of short options. */
const NEGATIVE_NUMBER = /^-(\d+\.?\d*|\.\d+)$/;
/**
 * Stands in for the minus sign of a negative number while parseArgs reads the line, which
 * would take `-0.5` for an option `-0` (Node's `allowNegative` is about `--no-flag`, not this).
 */
const MINUS = "\u2212";

function maskNegativeNumbers(argv: string[]): string[] {
  return argv.map((arg) => (NEGATIVE_NUMBER.test(arg) ? MINUS + arg.slice(1) : arg));
}

function unmask<V>(value: V): V {
  if (Array.isArray(value)) return value.map(unmask) as V;
  if (typeof value === "string" && value.startsWith(MINUS) && NEGATIVE_NUMBER.test("-" + value.slice(1))) return ("-" + value.slice(1)) as V;
  return value;
}

async function main(argv: string[]): Promise<void> {
  // Negative amounts are values and positionals (`credits grant P -0.5` is an adjustment).
  const parsed = parseArgs({
    args: maskNegativeNumbers(argv),
    allowPositionals: true,
    options: {
      config: { type: "string" },
      port: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      credits: { type: "string" },
      note: { type: "string" },
      project: { type: "string" },
      name: { type: "string" },
      env: { type: "string" },
      scope: { type: "string", multiple: true },
      models: { type: "string" },
      "spend-limit": { type: "string" },
      "limit-reset": { type: "string" },
      rpm: { type: "string" },
      tpm: { type: "string" },
      expires: { type: "string" },
      grace: { type: "string" },
      "group-by": { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
    },
  });
  const values = Object.fromEntries(Object.entries(parsed.values).map(([name, value]) => [name, unmask(value)])) as typeof parsed.values;
  const positionals = parsed.positionals.map(unmask);
  if (values.help) return void process.stdout.write(USAGE);
  const [command = "serve", sub, ...rest] = positionals;
  const json = values.json === true;
  const number = (value: string | undefined, flag: string) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n)) fail(`--${flag}: expected a number, got "${value}"`);
    return n;
  };
  /** The key settings given as flags (for create and update); "none" clears a limit. */
  const keySettings = () => {
    const orNone = <T>(value: string | undefined, parse: (v: string) => T) => (value === undefined || value === "" ? undefined : value === "none" ? null : parse(value));
    const settings = {
      name: values.name || undefined,
      scopes: values.scope?.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean),
      models: orNone(values.models, (v) => v.split(",").map((m) => m.trim()).filter(Boolean)),
      spend_limit_usd: orNone(values["spend-limit"], (v) => number(v, "spend-limit")),
      limit_reset: orNone(values["limit-reset"], (v) => v),
      rpm: orNone(values.rpm, (v) => number(v, "rpm")),
      tpm: orNone(values.tpm, (v) => number(v, "tpm")),
      expires_at: orNone(values.expires, (v) => v),
    };
    return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  };

  if (command === "check-config") {
    const { config, warnings } = loadOrExit(values.config);
    for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
    printResult(summarizeConfig(config), json, () => summarizeConfig(config).text);
    return;
  }

  const { config, warnings } = loadOrExit(values.config);
  if (command === "healthcheck") {
    const port = number(values.port, "port") ?? config.server.port;
    const healthy = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
    process.exit(healthy ? 0 : 1);
  }
  if (command === "serve") {
    for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
    const port = number(values.port, "port");
    await serve(createRuntime(config), port);
    return;
  }

  const runtime = createRuntime(config);
  try {
    if (command === "projects" && sub === "create") {
      if (!rest[0]) fail("usage: parrotrouter projects create NAME [--credits USD]");
      const project = admin.createProject(runtime, { name: rest[0], ...(values.credits !== undefined ? { credits_usd: number(values.credits, "credits") } : {}) });
      printResult(project, json, () => `created project ${project.name} (${project.id}) with $${project.balance_usd} credits`);
    } else if (command === "projects" && sub === "list") {
      const list = admin.listProjects(runtime);
      printResult(list, json, () => table(list.data, ["id", "name", "balance_usd", "key_count", "created_at"]));
    } else if (command === "credits" && sub === "grant") {
      if (!rest[0] || rest[1] === undefined) fail("usage: parrotrouter credits grant PROJECT USD [--note TEXT]");
      const result = admin.grantCredits(runtime, rest[0], { amount_usd: number(rest[1], "amount"), ...(values.note ? { note: values.note } : {}) });
      printResult(result, json, () => `${result.entry.kind} of $${result.entry.amount_usd} to ${result.entry.project}; balance now $${result.balance_usd}`);
    } else if (command === "credits" && sub === "show") {
      if (!rest[0]) fail("usage: parrotrouter credits show PROJECT");
      const result = admin.showCredits(runtime, rest[0]);
      printResult(result, json, () => `${result.project}: balance $${result.balance_usd} (credits $${result.total_credits_usd}, usage $${result.total_usage_usd})\n` + table(result.entries, ["id", "kind", "amount_usd", "note", "created_at"]));
    } else if (command === "keys" && sub === "create") {
      if (!values.project) fail("usage: parrotrouter keys create --project P [options]");
      const key = admin.createKey(runtime, { project: values.project, ...(values.env ? { env: values.env } : {}), ...keySettings() });
      printResult(key, json, () => `created key ${key.id} (${key.display}) for project ${key.project}\n\n    ${key.key}\n\nCopy it now: it is shown only once.`);
    } else if (command === "keys" && sub === "update") {
      if (!rest[0]) fail("usage: parrotrouter keys update KEY_ID [--name N] [--scope S] [--models M] [--spend-limit USD] [--limit-reset R] [--rpm N] [--tpm N] [--expires DATE]");
      const key = admin.updateKey(runtime, rest[0], keySettings());
      printResult(key, json, () => `updated ${key.id} (${key.display})`);
    } else if (command === "keys" && sub === "list") {
      const list = admin.listKeys(runtime, values.project);
      printResult(list, json, () => table(list.data, ["id", "project", "name", "env", "display", "scopes", "models", "last_used_at", "revoked_at"]));
    } else if (command === "keys" && sub === "revoke") {
      if (!rest[0]) fail("usage: parrotrouter keys revoke KEY_ID");
      const key = admin.revokeKey(runtime, rest[0]);
      printResult(key, json, () => `revoked ${key.id} (${key.display})`);
    } else if (command === "keys" && sub === "rotate") {
      if (!rest[0]) fail("usage: parrotrouter keys rotate KEY_ID [--grace SECONDS]");
      const key = admin.rotateKey(runtime, rest[0], { grace_seconds: number(values.grace, "grace") ?? 0 });
      printResult(key, json, () => `rotated into ${key.id} (${key.display})\n\n    ${key.key}\n\nCopy it now: it is shown only once.`);
    } else if (command === "backup") {
      if (!sub) fail("usage: parrotrouter backup FILE");
      backupDatabase(runtime.database.sqlite, sub);
      printResult({ backup: sub, database: config.databasePath }, json, () => `backed up ${config.databasePath} to ${sub}`);
    } else if (command === "usage") {
      const result = admin.adminUsage(runtime, { project: values.project, group_by: values["group-by"] ?? (sub === undefined ? "day" : sub), from: values.from, to: values.to });
      printResult(result, json, () => table(result.data, [result.group_by, "requests", "input_tokens", "output_tokens", "cost_usd"]));
    } else {
      fail(`unknown command: ${[command, sub].filter(Boolean).join(" ")}\n\n${USAGE}`);
    }
  } catch (error) {
    if (error instanceof ApiError || error instanceof Error) fail(`error: ${error.message}`);
    throw error;
  } finally {
    runtime.close();
  }
}

main(process.argv.slice(2)).catch((error) => fail(`error: ${error instanceof Error ? error.message : String(error)}`));
