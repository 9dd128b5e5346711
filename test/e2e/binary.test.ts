// The compiled binary, run as users run it: from a temporary directory with its own
// config.yaml, keys made with its CLI, and the official openai SDK calling it.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
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
admin: { token: e2e-admin-token }
database: { path: data/e2e.db }
providers:
  sim: { type: mock }
models:
  gpt-4o-mini:
    routes: [sim/gpt-4o-mini]
    pricing: { input: 0.15, output: 0.6 }
`,
  );
  // Files a compiled Bun program would pick up from its working directory unless built with
  // --no-compile-autoload-dotenv / --no-compile-autoload-bunfig: either would break the run.
  writeFileSync(join(workdir, ".env"), "PARROTROUTER_CONFIG=/nonexistent/config.yaml\n");
  writeFileSync(join(workdir, "bunfig.toml"), 'preload = ["./boom.ts"]\n');
  writeFileSync(join(workdir, "boom.ts"), 'throw new Error("bunfig.toml was loaded");\n');
}, 60_000);
afterAll(async () => {
  await running?.stop();
});

function cli(...args: string[]) {
  const result = Bun.spawnSync([binary, ...args, "--json"], { cwd: workdir, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(result.stderr.toString());
  return JSON.parse(result.stdout.toString());
}

test("the binary's CLI creates a project and a key; its server answers the openai SDK (a .env and bunfig.toml beside it are ignored)", async () => {
  const project = cli("projects", "create", "e2e", "--credits", "2");
  expect(project.balance_usd).toBe(2);
  const key = cli("keys", "create", "--project", "e2e", "--name", "ci");
  expect(key.key).toMatch(/^pr-live-[a-z0-9]{32}$/);
  // The relative database path resolved from the working directory.
  expect(existsSync(join(workdir, "data/e2e.db"))).toBe(true);

  running = await startBinary(binary, workdir);
  const client = new OpenAI({ apiKey: key.key, baseURL: `${running.url}/v1`, maxRetries: 0 });
  const completion = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "ping" }] });
  expect(completion.choices[0]!.message.content).toContain("ParrotRouter simulator");

  const stream = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "ping" }], stream: true });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
  expect(text).toBe(completion.choices[0]!.message.content!);

  const listed = cli("keys", "list", "--project", "e2e");
  expect(listed.data).toHaveLength(1);
  expect(JSON.stringify(listed)).not.toContain(key.key);
}, 60_000);

test("healthcheck (the Docker HEALTHCHECK) exits 0 while the server answers, 1 when nothing answers on the port", async () => {
  expect(running).toBeDefined();
  const port = new URL(running!.url).port;
  const check = () => Bun.spawnSync([binary, "healthcheck", "--port", port], { cwd: workdir, stdout: "pipe", stderr: "pipe" }).exitCode;
  expect(check()).toBe(0);
  const other = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const closedPort = String(other.port);
  other.stop(true);
  expect(Bun.spawnSync([binary, "healthcheck", "--port", closedPort], { cwd: workdir, stdout: "pipe", stderr: "pipe" }).exitCode).toBe(1);
});

test("the binary stops cleanly on SIGTERM", async () => {
  expect(running).toBeDefined();
  expect(await running!.stop("SIGTERM")).toBe(0);
  running = undefined;
});
