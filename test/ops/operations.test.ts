// What an operator relies on, shown on the compiled binary: /metrics, one JSON log line per
// request with no secret in any line, online backup and restore, graceful SIGTERM, SIGHUP reload.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { startFakeOpenAI, type FakeOpenAI } from "../fakes/openai";
import { compiledBinary, startBinary, tempWorkdir, type RunningBinary } from "../support/binary";

const PROVIDER_SECRET = "sk-provider-secret-do-not-log-0042";
let binary: string;
let workdir: string;
let fake: FakeOpenAI;
let running: RunningBinary | undefined;
let liveKey: string;

const config = (extraModels = "", logLevel = "debug") => `
admin: { token: ops-admin-token }
database: { path: data/ops.db }
log: { level: ${logLevel} }
server: { shutdown_grace_seconds: 10 }
routing: { retries: 0 }
providers:
  sim: { type: mock, chunk_delay_ms: 15 }
  up: { type: openai, base_url: "${fake.url}", api_key: "${PROVIDER_SECRET}" }
models:
  priced:
    routes: [sim/gpt-4o]
    pricing: { input: 1, output: 2 }
  upstream:
    routes: [up/gpt-4o]
    pricing: { input: 1, output: 2 }
${extraModels}`;

function cli(...args: string[]) {
  const result = Bun.spawnSync([binary, ...args, "--json"], { cwd: workdir, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(result.stderr.toString());
  return JSON.parse(result.stdout.toString());
}

beforeAll(async () => {
  binary = compiledBinary();
  fake = startFakeOpenAI();
  workdir = tempWorkdir();
  writeFileSync(join(workdir, "config.yaml"), config());
  cli("projects", "create", "ops", "--credits", "10");
  liveKey = cli("keys", "create", "--project", "ops").key;
  running = await startBinary(binary, workdir);
}, 60_000);
afterAll(async () => {
  await running?.stop("SIGKILL");
  await fake.close();
});

const client = () => new OpenAI({ apiKey: liveKey, baseURL: `${running!.url}/v1`, maxRetries: 0 });
const messages = [{ role: "user" as const, content: "operations" }];

describe("logs", () => {
  test("one JSON line per request with id, project, key display, model, provider, status, tokens, cost, latency; x-request-id echoed", async () => {
    const { response } = await client().chat.completions.create({ model: "priced", messages }, { headers: { "x-request-id": "client-req-123" } }).withResponse();
    expect(response.headers.get("x-request-id")).toBe("client-req-123");
    await Bun.sleep(50);
    const line = running!
      .output()
      .split("\n")
      .filter((l) => l.includes('"msg":"request"'))
      .map((l) => JSON.parse(l))
      .find((entry) => entry.client_request_id === "client-req-123");
    expect(line).toMatchObject({ project: "ops", model: "priced", provider: "sim", status: 200, env: "live" });
    expect(line.key).toMatch(/^pr-live-[a-z0-9]{4}…[a-z0-9]{4}$/);
    for (const field of ["request_id", "input_tokens", "output_tokens", "cost_usd", "latency_ms"]) expect(line).toHaveProperty(field);
    const failed = await fetch(`${running!.url}/v1/models`, { headers: { "x-request-id": "client-req-456" } });
    expect(failed.status).toBe(401);
    expect(failed.headers.get("x-request-id")).toBe("client-req-456");
  });

  test("at debug level, no line ever holds a pr- key or the provider secret", async () => {
    // Traffic that tempts a careless logger: good keys, bad keys, upstream errors, streams.
    await client().chat.completions.create({ model: "upstream", messages });
    fake.enqueue({ kind: "error", status: 500 }, { kind: "error", status: 401 });
    await client().chat.completions.create({ model: "upstream", messages }).catch(() => {});
    await client().chat.completions.create({ model: "upstream", messages }).catch(() => {});
    const stream = await client().chat.completions.create({ model: "priced", messages, stream: true });
    for await (const _ of stream) void _;
    const forged = liveKey.slice(0, -1) + (liveKey.endsWith("a") ? "b" : "a");
    await new OpenAI({ apiKey: forged, baseURL: `${running!.url}/v1`, maxRetries: 0 }).models.list().catch(() => {});
    await fetch(`${running!.url}/admin/api/projects`, { headers: { authorization: `Bearer ${liveKey}` } });
    await Bun.sleep(50);
    // Both streams: the log on stdout and whatever reaches stderr.
    const output = running!.output() + running!.errors();
    expect(output).toContain('"level":"debug"');
    expect(output).not.toMatch(/pr-(live|test)-[a-z0-9]{32}/);
    expect(output).not.toContain(liveKey.slice(8));
    expect(output).not.toContain(PROVIDER_SECRET);
  });
});

describe("GET /metrics", () => {
  test("Prometheus text with requests, latency and TTFB histograms, tokens, cost, upstream errors, open holds, db writes", async () => {
    const response = await fetch(`${running!.url}/metrics`);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    expect(text).toMatch(/parrotrouter_requests_total\{endpoint="chat.completions",model="priced",provider="sim",status="200"\} \d+/);
    expect(text).toMatch(/parrotrouter_request_duration_seconds_bucket\{endpoint="chat.completions",model="priced",le="\+Inf"\} \d+/);
    // Sub-millisecond precision: fast requests do not round down to a zero duration.
    expect(Number(text.match(/^parrotrouter_request_duration_seconds_sum\{endpoint="chat.completions",model="priced"\} (\S+)$/m)?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/parrotrouter_upstream_first_byte_seconds_count\{provider="up"\} \d+/);
    expect(text).toMatch(/parrotrouter_tokens_total\{model="priced",direction="output"\} \d+/);
    expect(text).toMatch(/parrotrouter_cost_usd_total\{model="priced"\} [\d.e-]+/);
    expect(text).toMatch(/parrotrouter_upstream_errors_total\{provider="up",code="upstream_error"\} \d+/);
    expect(text).toContain("parrotrouter_open_holds 0");
    expect(text).toContain("# TYPE parrotrouter_settlement_transactions_total counter");
    expect(Number(text.match(/^parrotrouter_settlement_transactions_total (\d+)$/m)?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/parrotrouter_db_write_seconds_count \d+/);
  });
});

describe("backups", () => {
  test("backup while serving; the copy restores into a working server with the same balances", async () => {
    const before = cli("credits", "show", "ops");
    const backupFile = join(workdir, "backups", "ops-backup.db");
    expect(cli("backup", backupFile).backup).toBe(backupFile);
    expect(() => cli("backup", backupFile)).toThrow("already exists");

    // Restore = stop the server, put the backup in place of the database, start again.
    const restoreDir = tempWorkdir();
    copyFileSync(backupFile, join(restoreDir, "restored.db"));
    writeFileSync(join(restoreDir, "config.yaml"), config().replace("data/ops.db", "restored.db"));
    const integrity = new Database(join(restoreDir, "restored.db"), { readonly: true });
    expect((integrity.query("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check).toBe("ok");
    integrity.close();
    const restored = await startBinary(binary, restoreDir);
    try {
      const credits = await fetch(`${restored.url}/v1/credits`, { headers: { authorization: `Bearer ${liveKey}` } });
      expect(((await credits.json()) as { data: { balance: number } }).data.balance).toBe(before.balance_usd);
    } finally {
      await restored.stop();
    }
  }, 30_000);
});

describe("signals", () => {
  test("SIGHUP reloads models; a bad new config is refused and the old one kept", async () => {
    writeFileSync(join(workdir, "config.yaml"), config(`  added-later:\n    routes: [sim/new]\n`));
    running!.process.kill("SIGHUP");
    await Bun.sleep(300);
    const models = await client().models.list();
    expect(models.data.map((m) => m.id)).toContain("added-later");

    writeFileSync(join(workdir, "config.yaml"), config().replace("models:", "modles:"));
    running!.process.kill("SIGHUP");
    await Bun.sleep(300);
    expect(running!.output()).toContain("config reload refused");
    expect(running!.output()).toContain("modles: unknown field");
    const still = await client().models.list();
    expect(still.data.map((m) => m.id)).toContain("added-later");
    writeFileSync(join(workdir, "config.yaml"), config());
  });

  test("while serving, the database and WAL files hold no key secret and no provider secret", async () => {
    await client().chat.completions.create({ model: "upstream", messages });
    // Checked before shutdown empties the WAL into the database (the test after this one
    // checks the files again once the server has stopped).
    const sizes = expectNoSecretsInDatabaseFiles();
    // The requests above were written to the WAL, so this searched live pages, not an empty file.
    expect(sizes["data/ops.db-wal"]).toBeGreaterThan(0);
  });

  test("SIGTERM lets an in-flight stream finish and settle, refuses new connections, exits 0", async () => {
    const stream = await client().chat.completions.create({ model: "priced", messages, stream: true });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    running!.process.kill("SIGTERM");
    let text = "";
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) text += next.value.choices[0]?.delta.content ?? "";
    expect(text.length).toBeGreaterThan(50);
    await Bun.sleep(100);
    expect(await fetch(`${running!.url}/health`).then(() => "answered", () => "refused")).toBe("refused");
    expect(await running!.process.exited).toBe(0);
    expect(running!.output()).toContain('"open_holds":0');
    running = undefined;
    const db = new Database(join(workdir, "data/ops.db"), { readonly: true });
    const streamed = db.query("select count(*) as n from requests where stream = 1 and status = 200").get() as { n: number };
    expect(streamed.n).toBeGreaterThanOrEqual(2);
    db.close();
  }, 30_000);
});

test("after shutdown, the database and WAL files hold no key secret and no provider secret", () => {
  expectNoSecretsInDatabaseFiles();
});

/** Searches the raw database and WAL files; returns the bytes read per file. */
function expectNoSecretsInDatabaseFiles(): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const file of ["data/ops.db", "data/ops.db-wal"]) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(workdir, file));
    } catch {
      continue;
    }
    sizes[file] = bytes.length;
    expect(bytes.includes(Buffer.from(liveKey.slice(8)))).toBe(false);
    expect(bytes.includes(Buffer.from(PROVIDER_SECRET))).toBe(false);
  }
  return sizes;
}
