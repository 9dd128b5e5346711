// The third reference point: the leanest proxy that does what the targets require of
// ParrotRouter, written flat in one file with nothing else. Per request it authenticates a
// bearer key (SHA-256, in-memory map), holds the worst-case cost against an in-memory balance,
// forwards the request re-serialised with a provider key (the client's signal passed on, so a
// client that leaves stops the upstream call), reads the upstream's usage, and answers only
// after a group-commit transaction (requests finishing in one event-loop turn share it) has
// durably written its usage row, its ledger charge, the project's new balance and the hourly
// rollup to SQLite (WAL, synchronous NORMAL), with the cost headers. No routing, retries, rate
// limits, metrics, logging, timeouts, secondary indexes or framework: what it reaches is about
// the best any implementation of the same promises could do on this runtime, not something
// ParrotRouter could ship.
// Listens on 127.0.0.1:$PORT, forwards to $UPSTREAM_URL, database at $DB_PATH; the accepted key
// is $BENCH_KEY.

import { Database } from "bun:sqlite";

const upstreamUrl = process.env.UPSTREAM_URL!;
const upstreamHeaders = { "content-type": "application/json", authorization: "Bearer sk-bench-provider-key" };
const PRICE_IN = 150; // nano-USD per token
const PRICE_OUT = 600;

const db = new Database(process.env.DB_PATH!, { create: true, strict: true });
db.exec("PRAGMA journal_mode = WAL");
db.exec("PRAGMA synchronous = NORMAL");
db.exec(`CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY, balance INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS requests (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, key_id TEXT NOT NULL, model TEXT NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost INTEGER NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY, project_id TEXT NOT NULL, amount INTEGER NOT NULL, request_id TEXT);
CREATE TABLE IF NOT EXISTS usage_hourly (project_id TEXT NOT NULL, key_id TEXT NOT NULL, model TEXT NOT NULL, hour INTEGER NOT NULL,
  requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost INTEGER NOT NULL, PRIMARY KEY (project_id, key_id, model, hour));
INSERT OR IGNORE INTO projects VALUES ('bench', 1000000000000000);`);

const keys = new Map([[Bun.SHA256.hash(process.env.BENCH_KEY!, "hex"), { id: "key-1", projectId: "bench" }]]);
let balance = db.query<{ balance: number }, []>("SELECT balance FROM projects WHERE id = 'bench'").get()!.balance;
let held = 0;

const insertRequest = db.prepare("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
const insertCharge = db.prepare("INSERT INTO ledger (project_id, amount, request_id) VALUES (?, ?, ?)");
const updateBalance = db.prepare("UPDATE projects SET balance = balance - ? WHERE id = ?");
const addToRollup = db.prepare(`INSERT INTO usage_hourly VALUES (?, ?, 'bench-model', ?, ?, ?, ?, ?)
  ON CONFLICT DO UPDATE SET requests = requests + excluded.requests, input_tokens = input_tokens + excluded.input_tokens,
  output_tokens = output_tokens + excluded.output_tokens, cost = cost + excluded.cost`);

interface Row { id: string; projectId: string; keyId: string; input: number; output: number; cost: number }
const commitRows = db.transaction((rows: Row[]) => {
  let total = 0;
  let input = 0;
  let output = 0;
  const now = Date.now();
  for (const r of rows) {
    insertRequest.run(r.id, r.projectId, r.keyId, "bench-model", r.input, r.output, r.cost, now);
    insertCharge.run(r.projectId, -r.cost, r.id);
    total += r.cost;
    input += r.input;
    output += r.output;
  }
  // One project and one key here: the real thing sums per project and per rollup row.
  updateBalance.run(total, "bench");
  addToRollup.run("bench", rows[0]!.keyId, now - (now % 3_600_000), rows.length, input, output, total);
});

let waiting: { row: Row; resolve: () => void; reject: (error: unknown) => void }[] = [];
let inFlight = 0;
/** Commits everything queued in this event-loop turn in one transaction; each waiter learns how it went. */
function flush(): void {
  const batch = waiting;
  waiting = [];
  try {
    commitRows.immediate(batch.map((w) => w.row));
  } catch (error) {
    for (const w of batch) w.reject(error);
    return;
  }
  for (const w of batch) w.resolve();
}
/** A lone request commits at once; otherwise it joins the next flush. */
function commit(row: Row): Promise<void> | void {
  if (inFlight === 1 && waiting.length === 0) return void commitRows.immediate([row]);
  return new Promise((resolve, reject) => {
    if (waiting.push({ row, resolve, reject }) === 1) setImmediate(flush);
  });
}

const unauthorized = () => Response.json({ error: { message: "Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key" } }, { status: 401 });

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  async fetch(request) {
    const auth = request.headers.get("authorization");
    const key = auth?.startsWith("Bearer ") ? keys.get(Bun.SHA256.hash(auth.slice(7), "hex")) : undefined;
    if (!key) return unauthorized();
    const body = JSON.parse(await request.text());
    const hold = 1000 * PRICE_IN + (body.max_tokens ?? 4096) * PRICE_OUT;
    if (balance - held < hold) return Response.json({ error: { message: "Insufficient credits", code: "insufficient_credits" } }, { status: 402 });
    held += hold;
    inFlight++;
    try {
      const answer = await fetch(upstreamUrl, { method: "POST", body: JSON.stringify({ ...body, model: "bench-upstream" }), headers: upstreamHeaders, signal: request.signal });
      const completion = JSON.parse(await answer.text());
      const usage = completion.usage;
      const cost = usage.prompt_tokens * PRICE_IN + usage.completion_tokens * PRICE_OUT;
      const id = `req_${Bun.randomUUIDv7("buffer").toString("hex")}`;
      await commit({ id, projectId: key.projectId, keyId: key.id, input: usage.prompt_tokens, output: usage.completion_tokens, cost });
      balance -= cost;
      usage.cost = cost / 1e9;
      return new Response(JSON.stringify(completion), {
        headers: {
          "x-request-id": id,
          "x-parrotrouter-provider": "fake",
          "x-parrotrouter-model": "bench-upstream",
          "x-parrotrouter-cost-usd": (cost / 1e9).toFixed(9),
          "x-parrotrouter-balance-usd": (balance / 1e9).toFixed(9),
          "content-type": "application/json",
        },
      });
    } finally {
      held -= hold;
      inFlight--;
    }
  },
});
