// The processes a benchmark run starts on 127.0.0.1 (fake upstream, pass-through baseline,
// ParrotRouter) and the ParrotRouter set-up: a config, a project and a pr-live key via its CLI.

import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export const ROOT = dirname(import.meta.dir);
export const HOST = "127.0.0.1";
/** The compiled binary; `[bun, src/main.ts]` runs the same from source (profiling). */
export const BINARY = [join(ROOT, "parrotrouter")];
export const SOURCE = [process.execPath, "src/main.ts"];

export const REQUEST_BODY = JSON.stringify({ model: "bench-model", messages: [{ role: "user", content: "Say hello in five words." }], max_tokens: 16 });
export const STREAM_BODY = JSON.stringify({ ...JSON.parse(REQUEST_BODY), stream: true });

export interface Target {
  name: string;
  pid: number;
  url: string;
  /** Milliseconds from spawn to the first answered probe. */
  startMs: number;
  stop(): Promise<void>;
}

const running = new Set<Target>();

/** Builds the compiled binary of the checkout at `tree` (`npm run build`) and returns the command that runs it. */
export function compileBinary(tree: string): string[] {
  const build = Bun.spawnSync([process.execPath, "run", "build"], { cwd: tree, stdout: "ignore", stderr: "inherit" });
  if (build.exitCode !== 0) throw new Error(`building ${tree} failed`);
  return [join(tree, "parrotrouter")];
}

/** Stops everything still running, newest first. */
export async function stopAll(): Promise<void> {
  for (const target of [...running].reverse()) await target.stop();
}

export function freePort(): number {
  const listener = Bun.listen({ hostname: HOST, port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** Spawns `cmd` and resolves once `probe` answers. */
export async function start(name: string, cmd: string[], url: string, probe: () => Promise<boolean>, env: Record<string, string> = {}): Promise<Target> {
  const t0 = performance.now();
  const child = Bun.spawn(cmd, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "inherit", stderr: "inherit" });
  while (!(await probe().catch(() => false))) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} before answering`);
    if (performance.now() - t0 > 30_000) throw new Error(`${name} did not answer within 30 s`);
    await Bun.sleep(1);
  }
  const target: Target = {
    name,
    pid: child.pid,
    url,
    startMs: performance.now() - t0,
    stop: async () => {
      child.kill("SIGTERM");
      await child.exited;
      running.delete(target);
    },
  };
  running.add(target);
  return target;
}

/** True once anything answers HTTP on `port`. */
const listening = (port: number) => () => fetch(`http://${HOST}:${port}/`, { method: "POST", body: "{}" }).then(() => true);

export async function startUpstream(): Promise<{ target: Target; port: number }> {
  const port = freePort();
  const target = await start("upstream", [process.execPath, "bench/upstream.ts"], `http://${HOST}:${port}/v1/chat/completions`, listening(port), { PORT: String(port) });
  return { target, port };
}

/** A reference proxy script of bench/ in front of `upstream`. */
function startProxy(name: string, script: string, upstream: Target, env: Record<string, string> = {}): Promise<Target> {
  const port = freePort();
  return start(name, [process.execPath, script], `http://${HOST}:${port}/v1/chat/completions`, listening(port), {
    PORT: String(port),
    UPSTREAM_URL: upstream.url,
    ...env,
  });
}

/** The floor: bench/baseline.ts, the bare pass-through. */
export function startBaseline(upstream: Target): Promise<Target> {
  return startProxy("baseline", "bench/baseline.ts", upstream);
}

/** bench/json-proxy.ts: what any proxy billing from a JSON answer does, and nothing more. */
export function startJsonProxy(upstream: Target): Promise<Target> {
  return startProxy("json proxy", "bench/json-proxy.ts", upstream);
}

/** bench/lean-router.ts: every promise of the targets kept, flat in one file; `key` is the key it accepts. */
export function startLeanRouter(upstream: Target, databasePath: string, key: string): Promise<Target> {
  return startProxy("lean router", "bench/lean-router.ts", upstream, { DB_PATH: databasePath, BENCH_KEY: key });
}

/**
 * The fake upstream and, in front of it, the pass-through, the JSON-reading proxy, the lean
 * router and ParrotRouter from source (each router's database and ParrotRouter's config in
 * `dir`; one pr-live key, made by ParrotRouter's CLI, for both routers).
 */
export async function startUpstreamAndReferenceProxies(dir: string, name: string) {
  const upstream = await startUpstream();
  const baseline = await startBaseline(upstream.target);
  const jsonProxy = await startJsonProxy(upstream.target);
  const config = writeConfig(dir, name, join(dir, `${name}.db`), upstream.port);
  const key = createLiveKey(SOURCE, config);
  const leanRouter = await startLeanRouter(upstream.target, join(dir, `${name}-lean.db`), key);
  const router = await startRouter("parrotrouter (source)", SOURCE, config, key);
  return { upstream, baseline, jsonProxy, leanRouter, router, key };
}

/** A config with one priced model routed to the fake upstream; log level warn. */
export function writeConfig(dir: string, name: string, databasePath: string, upstreamPort: number): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(
    path,
    [
      `server: { host: ${HOST}, port: 8080 }`,
      `database: { path: ${databasePath} }`,
      `admin: { token: bench-admin-token-${crypto.randomUUID()} }`,
      `log: { level: warn }`,
      `providers:`,
      `  fake: { type: openai-compatible, base_url: "http://${HOST}:${upstreamPort}/v1" }`,
      `models:`,
      `  bench-model: { routes: [fake/bench-upstream], pricing: { input: 0.15, output: 0.60 } }`,
      ``,
    ].join("\n"),
  );
  return path;
}

/** Runs a CLI command with `--json` and returns its answer. */
export function cli(command: string[], config: string, ...args: string[]): Record<string, unknown> {
  const result = Bun.spawnSync([...command, ...args, "--json", "--config", config], { cwd: ROOT });
  if (result.exitCode !== 0) throw new Error(`parrotrouter ${args.join(" ")}: ${result.stderr.toString()}`);
  return JSON.parse(result.stdout.toString());
}

/** A project with plenty of credits and a pr-live key for it; returns the key. */
export function createLiveKey(command: string[], config: string): string {
  cli(command, config, "projects", "create", "bench", "--credits", "1000000");
  const key = String(cli(command, config, "keys", "create", "--project", "bench", "--name", "bench")["key"]);
  if (!key.startsWith("pr-live-")) throw new Error(`expected a pr-live key, got ${key.slice(0, 8)}…`);
  return key;
}

export function authHeaders(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}`, "content-type": "application/json" };
}

/** Starts ParrotRouter; it counts as started when a real chat completion comes back. */
export function startRouter(name: string, command: string[], config: string, key: string): Promise<Target> {
  const port = freePort();
  const url = `http://${HOST}:${port}/v1/chat/completions`;
  const answers = () =>
    fetch(url, { method: "POST", headers: authHeaders(key), body: REQUEST_BODY }).then(async (r) => r.ok && ((await r.json()) as { choices?: unknown }).choices !== undefined);
  return start(name, [...command, "serve", "--config", config, "--port", String(port)], url, answers);
}
