// The binary's lifecycle under signals: a stream still running at the shutdown deadline is cut
// and settled before the database closes; SIGINT stops as gracefully as SIGTERM; SIGHUP swaps
// pricing while a stream started before it runs on to its end; a request whose client left
// just before the signal still settles before the database closes.

import { afterEach, beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { startFakeOpenAI } from "../fakes/openai";
import { compiledBinary, startBinary, tempWorkdir, type RunningBinary } from "../support/binary";

let binary: string;
let running: RunningBinary | undefined;

beforeAll(() => {
  binary = compiledBinary();
}, 60_000);
afterEach(async () => {
  await running?.stop("SIGKILL");
  running = undefined;
});

const messages = [{ role: "user" as const, content: "tell me a long story" }];

/** A fresh working directory with a config, a project with $10 and a pr-live key. */
function setUp(configYaml: string): { workdir: string; key: string; write: (yaml: string) => void } {
  const workdir = tempWorkdir();
  const write = (yaml: string) => writeFileSync(join(workdir, "config.yaml"), yaml);
  write(configYaml);
  const cli = (...args: string[]) => {
    const result = Bun.spawnSync([binary, ...args, "--json"], { cwd: workdir, stdout: "pipe", stderr: "pipe" });
    if (result.exitCode !== 0) throw new Error(result.stderr.toString());
    return JSON.parse(result.stdout.toString());
  };
  cli("projects", "create", "life", "--credits", "10");
  return { workdir, key: cli("keys", "create", "--project", "life").key, write };
}

function ledger(workdir: string) {
  const db = new Database(join(workdir, "data/life.db"), { readonly: true });
  const rows = db.query("select status, stream, usage_source, input_tokens, output_tokens, cost_nano_usd from requests order by created_at").all() as {
    status: number;
    stream: number;
    usage_source: string;
    input_tokens: number;
    output_tokens: number;
    cost_nano_usd: number;
  }[];
  const { balance } = db.query("select balance_nano_usd as balance from projects where name = 'life'").get() as { balance: number };
  const { sum } = db.query("select sum(amount_nano_usd) as sum from ledger_entries").get() as { sum: number };
  db.close();
  return { rows, balance, sum };
}

const pricedConfig = (input: number, output: number, extra = "") => `
admin: { token: lifecycle-admin-token }
database: { path: data/life.db }
${extra}
providers:
  sim: { type: mock, chunk_delay_ms: 40 }
models:
  priced:
    routes: [sim/gpt-4o]
    pricing: { input: ${input}, output: ${output} }
`;

test("a stream still running at the shutdown deadline is cut, settled for what it streamed, then the database closes", async () => {
  const { workdir, key } = setUp(pricedConfig(1, 2, "server: { shutdown_grace_seconds: 1 }").replace("chunk_delay_ms: 40", "chunk_delay_ms: 400"));
  running = await startBinary(binary, workdir);
  const client = new OpenAI({ apiKey: key, baseURL: `${running.url}/v1`, maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: "priced", messages, stream: true, max_tokens: 500 });
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.next();
  await iterator.next();

  const signalledAt = Date.now();
  running.process.kill("SIGTERM");
  // The client's stream ends (cut) instead of hanging; the process exits cleanly.
  const rest = (async () => {
    try {
      while (!(await iterator.next()).done) {}
      return "ended";
    } catch {
      return "cut";
    }
  })();
  expect(await running.process.exited).toBe(0);
  expect(Date.now() - signalledAt).toBeLessThan(8_000);
  expect(["ended", "cut"]).toContain(await rest);
  const output = running.output();
  running = undefined;
  expect(output).toContain("shutdown deadline reached");
  expect(output).toContain('"open_holds":0');

  const { rows, balance, sum } = ledger(workdir);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ stream: 1, status: 499, usage_source: "estimated" });
  expect(rows[0]!.output_tokens).toBeGreaterThan(0);
  expect(rows[0]!.cost_nano_usd).toBeGreaterThan(0);
  expect(balance).toBe(sum);
  expect(balance).toBe(10e9 - rows[0]!.cost_nano_usd);
}, 30_000);

test("SIGINT drains like SIGTERM: the in-flight request finishes and settles, exit code 0", async () => {
  const { workdir, key } = setUp(pricedConfig(1, 2));
  running = await startBinary(binary, workdir);
  const client = new OpenAI({ apiKey: key, baseURL: `${running.url}/v1`, maxRetries: 0 });
  const pending = client.chat.completions.create({ model: "priced", messages, stream: true }).then(async (stream) => {
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    return text;
  });
  await Bun.sleep(100);
  running.process.kill("SIGINT");
  expect((await pending).length).toBeGreaterThan(50);
  expect(await running.process.exited).toBe(0);
  expect(running.output()).toContain('"signal":"SIGINT"');
  running = undefined;
  const { rows, balance, sum } = ledger(workdir);
  expect(rows.map((r) => r.status)).toEqual([200]);
  expect(balance).toBe(sum);
}, 30_000);

test("SIGHUP: new pricing applies to the next request; a stream started before it runs to its end on the same connection", async () => {
  const { workdir, key, write } = setUp(pricedConfig(1, 2));
  running = await startBinary(binary, workdir);
  const client = new OpenAI({ apiKey: key, baseURL: `${running.url}/v1`, maxRetries: 0 });
  await client.chat.completions.create({ model: "priced", messages, max_tokens: 20 });

  const stream = await client.chat.completions.create({ model: "priced", messages, stream: true });
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.next();
  write(pricedConfig(3, 7));
  running.process.kill("SIGHUP");
  let text = "";
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) text += next.value.choices[0]?.delta.content ?? "";
  expect(text.length).toBeGreaterThan(50);
  const deadline = Date.now() + 5_000;
  while (!running.output().includes("config reloaded") && Date.now() < deadline) await Bun.sleep(20);
  expect(running.output()).toContain("config reloaded");

  await client.chat.completions.create({ model: "priced", messages, max_tokens: 20 });
  const { rows, balance, sum } = ledger(workdir);
  expect(rows.map((r) => r.status)).toEqual([200, 200, 200]);
  // $N per million tokens is N × 1,000 nano-USD per token.
  const cost = (row: (typeof rows)[number], input: number, output: number) => row.input_tokens * input * 1000 + row.output_tokens * output * 1000;
  expect(rows[0]!.cost_nano_usd).toBe(cost(rows[0]!, 1, 2));
  expect(rows[2]!.cost_nano_usd).toBe(cost(rows[2]!, 3, 7));
  expect(balance).toBe(sum);
}, 30_000);

test("SIGTERM just after a client left mid-request: the request still settles (499, prompt charged) before the database closes", async () => {
  const fake = startFakeOpenAI();
  try {
    const { workdir, key } = setUp(`
admin: { token: lifecycle-admin-token }
database: { path: data/life.db }
providers:
  up: { type: openai-compatible, base_url: "${fake.url}" }
models:
  priced:
    routes: [up/gpt-4o]
    pricing: { input: 1, output: 2 }
`);
    // The upstream takes its time; the client leaves once it has the request, and the signal
    // comes before the router has noticed (it follows the client from 50 ms into the call).
    fake.enqueue({ kind: "ok", delayMs: 2_000 });
    running = await startBinary(binary, workdir);
    const controller = new AbortController();
    const pending = fetch(`${running.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "priced", messages }),
      signal: controller.signal,
    }).catch(() => "left");
    const deadline = Date.now() + 5_000;
    while (fake.requests.length === 0 && Date.now() < deadline) await Bun.sleep(2);
    controller.abort();
    expect(await pending).toBe("left");
    running.process.kill("SIGTERM");
    expect(await running.process.exited).toBe(0);
    const output = running.output();
    running = undefined;
    expect(output).toContain('"msg":"stopped","open_holds":0');
    expect(output).not.toContain("settlement failed");

    const { rows, balance, sum } = ledger(workdir);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ stream: 0, status: 499, usage_source: "estimated", output_tokens: 0 });
    expect(rows[0]!.cost_nano_usd).toBeGreaterThan(0);
    expect(balance).toBe(sum);
    expect(balance).toBe(10e9 - rows[0]!.cost_nano_usd);
  } finally {
    await fake.close();
  }
}, 30_000);
