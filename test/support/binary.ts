// Builds the compiled binary once per test run (into a temp folder) and starts it as users
// do: from a directory of their own, with a config there.

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

let built: string | undefined;

/**
 * Path of a freshly compiled `parrotrouter`, built by the `build` script of package.json itself
 * (only its --outfile changed), so the tests run exactly what `npm run build` ships.
 */
export function compiledBinary(): string {
  if (built) return built;
  const out = join(mkdtempSync(join(tmpdir(), "parrotrouter-bin-")), "parrotrouter");
  const root = resolve(import.meta.dir, "../..");
  const script: string = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).scripts.build;
  const args = script.split(/\s+/);
  if (args[0] !== "bun" || args[1] !== "build" || args.indexOf("--outfile") === -1) throw new Error(`unexpected build script: ${script}`);
  args[args.indexOf("--outfile") + 1] = out;
  const result = Bun.spawnSync([process.execPath, ...args.slice(1)], { cwd: root, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`build failed: ${result.stderr.toString()}`);
  built = out;
  return out;
}

export interface RunningBinary {
  url: string;
  process: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the process printed on stdout so far. */
  output(): string;
  /** Everything the process printed on stderr so far. */
  errors(): string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** Starts `binary serve --port 0` in `cwd` and resolves once it logs its URL. */
export async function startBinary(binary: string, cwd: string, args: string[] = [], env: Record<string, string> = {}): Promise<RunningBinary> {
  const child = Bun.spawn([binary, "serve", "--port", "0", ...args], { cwd, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  let stdout = "";
  let stderr = "";
  const collect = async (stream: ReadableStream<Uint8Array>, append: (text: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) append(decoder.decode(chunk, { stream: true }));
  };
  const pump = Promise.all([collect(child.stdout, (text) => (stdout += text)), collect(child.stderr, (text) => (stderr += text))]);
  const deadline = Date.now() + 10_000;
  let url: string | undefined;
  while (!url && Date.now() < deadline) {
    url = stdout.match(/"url":"(http:\/\/[^"]+)"/)?.[1];
    if (!url) {
      if (child.exitCode !== null) break;
      await Bun.sleep(20);
    }
  }
  if (!url) {
    child.kill();
    await pump.catch(() => {});
    throw new Error(`binary did not start: ${stdout}\n${stderr}`);
  }
  return {
    url,
    process: child,
    output: () => stdout,
    errors: () => stderr,
    stop: async (signal = "SIGTERM") => {
      child.kill(signal);
      const code = await child.exited;
      await pump.catch(() => {});
      return code;
    },
  };
}

export function tempWorkdir(): string {
  return mkdtempSync(join(tmpdir(), "parrotrouter-e2e-"));
}
