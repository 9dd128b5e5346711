// The compiled binary's admin side, as a first-time user meets it: no admin token configured,
// so the first start generates one, prints it once (stderr, never the log) and stores only its
// hash; the admin page and its assets come out of the binary itself; and raw usage rows past
// the retention period are pruned when the server starts.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compiledBinary, startBinary, tempWorkdir, type RunningBinary } from "../support/binary";

const DAY_MS = 86_400_000;

let binary: string;
let workdir: string;
let running: RunningBinary | undefined;

// The token must come from the first start, not from the environment.
const { PARROTROUTER_ADMIN_TOKEN: _ignored, ...environment } = process.env;

beforeAll(() => {
  binary = compiledBinary();
  workdir = tempWorkdir();
  writeFileSync(
    join(workdir, "config.yaml"),
    `
database: { path: data/admin.db }
usage: { retention_days: 30 }
providers:
  sim: { type: mock }
models:
  gpt-4o-mini: { routes: [sim/gpt-4o-mini] }
`,
  );
}, 60_000);
afterAll(async () => {
  await running?.stop();
});

function cli(...args: string[]) {
  const result = Bun.spawnSync([binary, ...args, "--json"], { cwd: workdir, env: environment, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(result.stderr.toString());
  return JSON.parse(result.stdout.toString());
}

/** Starts the binary and stops it again, returning its stderr and the log on stdout. */
async function startAndStop(check: (running: RunningBinary) => Promise<void>): Promise<{ stderr: string; stdout: string }> {
  running = await startBinary(binary, workdir, [], environment as Record<string, string>);
  try {
    await check(running);
  } finally {
    await running.stop("SIGTERM");
  }
  const result = { stderr: running.errors(), stdout: running.output() };
  running = undefined;
  return result;
}

function insertRequestRow(db: Database, id: string, projectId: string, keyId: string, createdAt: number): void {
  db.query(
    `INSERT INTO requests (id, project_id, key_id, env, endpoint, model, provider, upstream_model, stream, status,
       input_tokens, output_tokens, cached_input_tokens, cost_nano_usd, usage_source, latency_ms, created_at)
     VALUES (?, ?, ?, 'live', 'chat.completions', 'gpt-4o-mini', 'sim', 'gpt-4o-mini', 0, 200, 10, 5, 0, 0, 'reported', 3, ?)`,
  ).run(id, projectId, keyId, createdAt);
}

test("first start: a generated admin token, printed once and stored only as a hash; the page served from the binary; old raw rows pruned", async () => {
  const project = cli("projects", "create", "admin-e2e");
  const key = cli("keys", "create", "--project", "admin-e2e");
  const dbPath = join(workdir, "data/admin.db");
  const seed = new Database(dbPath);
  insertRequestRow(seed, "req_old_row", project.id, key.id, Date.now() - 45 * DAY_MS);
  insertRequestRow(seed, "req_recent_row", project.id, key.id, Date.now() - 2 * DAY_MS);
  seed.close();

  let token = "";
  const first = await startAndStop(async ({ url }) => {
    // The assets are embedded: no files beside the binary.
    const css = await fetch(`${url}/admin/assets/admin.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toStartWith("text/css");
    expect((await css.text()).length).toBeGreaterThan(100);
    expect((await fetch(`${url}/admin/assets/copy.js`)).status).toBe(200);
    const loginPage = await fetch(`${url}/admin/login`);
    expect(loginPage.status).toBe(200);
    expect(await loginPage.text()).toContain('name="token"');
  });
  token = first.stderr.match(/\n\s+(pra-[A-Za-z0-9_-]+)\n/)?.[1] ?? "";
  expect(token).toMatch(/^pra-[A-Za-z0-9_-]{32}$/);
  expect(first.stdout).not.toContain(token);

  // Only the SHA-256 is in the database; the token itself nowhere in its files.
  const db = new Database(dbPath, { readonly: true });
  const stored = db.query<{ value: string }, []>("SELECT value FROM settings WHERE key = 'admin_token_sha256'").get()!.value;
  expect(stored).toBe(new Bun.CryptoHasher("sha256").update(token).digest("hex"));
  const remaining = db.query<{ id: string }, []>("SELECT id FROM requests ORDER BY id").all().map((r) => r.id);
  db.close();
  expect(remaining).toEqual(["req_recent_row"]);
  for (const file of [dbPath, `${dbPath}-wal`]) {
    try {
      expect(readFileSync(file).includes(token)).toBe(false);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }

  // A second start prints nothing new, and the first token still opens the admin API and page.
  const second = await startAndStop(async ({ url }) => {
    const projects = await fetch(`${url}/admin/api/projects`, { headers: { authorization: `Bearer ${token}` } });
    expect(projects.status).toBe(200);
    expect(JSON.stringify(await projects.json())).toContain("admin-e2e");
    const login = await fetch(`${url}/admin/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: url },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(login.status).toBe(303);
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    const page = await fetch(`${url}/admin`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("admin-e2e");
  });
  expect(second.stderr).not.toContain("pra-");
  expect(second.stderr).not.toContain("No admin token configured");
}, 60_000);
