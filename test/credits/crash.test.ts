// kill -9 of the compiled server in the middle of a load, then a restart: the database is
// intact, every balance equals its ledger, every complete response has its usage row at
// once, and after the restart exactly one charge.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { compiledBinary, startBinary, tempWorkdir, type RunningBinary } from "../support/binary";

let binary: string;
let workdir: string;
let running: RunningBinary | undefined;

beforeAll(() => {
  binary = compiledBinary();
  workdir = tempWorkdir();
  writeFileSync(
    join(workdir, "config.yaml"),
    `
admin: { token: crash-admin-token }
database: { path: data/crash.db }
log: { level: warn }
providers:
  sim: { type: mock, latency_ms: 5, chunk_delay_ms: 2 }
models:
  priced:
    routes: [sim/gpt-4o]
    pricing: { input: 1, output: 1 }
`,
  );
}, 60_000);
afterAll(async () => {
  await running?.stop("SIGKILL");
});

function expectBalancesEqualLedgers(db: Database) {
  const projects = db.query("select id, balance_nano_usd from projects").all() as { id: string; balance_nano_usd: number }[];
  for (const project of projects) {
    const sum = (db.query("select coalesce(sum(amount_nano_usd),0) as s from ledger_entries where project_id = ?").get(project.id) as { s: number }).s;
    expect(project.balance_nano_usd).toBe(sum);
  }
}

function cli(...args: string[]) {
  const result = Bun.spawnSync([binary, ...args, "--json"], { cwd: workdir, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(result.stderr.toString());
  return JSON.parse(result.stdout.toString());
}

test("kill -9 under load, then restart: integrity ok, balances equal ledgers, complete responses charged once", async () => {
  cli("projects", "create", "crash", "--credits", "100");
  const key = cli("keys", "create", "--project", "crash").key as string;
  running = await startBinary(binary, workdir);
  const url = running.url;

  const completed: string[] = [];
  let stop = false;
  const worker = async (stream: boolean) => {
    // Bounded: each worker sends at most 200 requests, and stops at the kill.
    for (let i = 0; i < 200 && !stop; i++) {
      try {
        const response = await fetch(`${url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "priced", messages: [{ role: "user", content: `load ${i}` }], stream, max_tokens: 20 }),
        });
        const text = await response.text();
        const complete = response.status === 200 && (stream ? text.trimEnd().endsWith("data: [DONE]") : text.endsWith("}"));
        if (complete) completed.push(response.headers.get("x-request-id")!);
      } catch {
        // the server died under this request: it did not complete
      }
    }
  };
  const workers = Array.from({ length: 16 }, (_, i) => worker(i % 2 === 0));
  await Bun.sleep(700);
  running.process.kill("SIGKILL");
  await running.process.exited;
  stop = true;
  await Promise.all(workers);
  running = undefined;
  expect(completed.length).toBeGreaterThan(20);

  // What the kill left: the database intact, and a usage row for every complete response
  // (each was committed before its answer); usually some not yet applied to the ledger (how
  // many depends on when the kill fell; settlement-journal.test.ts applies a crash's leftovers
  // deterministically).
  let db = new Database(join(workdir, "data/crash.db"));
  expect((db.query("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check).toBe("ok");
  const rowFor = db.prepare("select count(*) as n from requests where id = ?");
  for (const requestId of completed) expect((rowFor.get(requestId) as { n: number }).n).toBe(1);
  expectBalancesEqualLedgers(db);
  db.close();

  // The restarted server applies them, then serves again from the same database.
  running = await startBinary(binary, workdir);
  const after = await fetch(`${running.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: "priced", messages: [{ role: "user", content: "again" }] }),
  });
  expect(after.status).toBe(200);
  await running.stop("SIGTERM");
  running = undefined;

  db = new Database(join(workdir, "data/crash.db"));
  expectBalancesEqualLedgers(db);
  const chargesFor = db.prepare("select count(*) as n from ledger_entries where request_id = ? and kind = 'charge'");
  for (const requestId of [...completed, after.headers.get("x-request-id")!]) expect((chargesFor.get(requestId) as { n: number }).n).toBe(1);
  // Every usage row is charged exactly once: none lost in the crash, none applied twice.
  const unmatched = db.query("select count(*) as n from requests r where r.cost_nano_usd > 0 and (select count(*) from ledger_entries l where l.request_id = r.id) != 1").get() as { n: number };
  expect(unmatched.n).toBe(0);
  db.close();
}, 60_000);
