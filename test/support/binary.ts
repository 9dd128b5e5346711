// Builds the compiled binary once per test run (into a temp folder) and starts it as users
// do: from a directory of their own, with a config there.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

let built: string | undefined;

/** Path of a freshly compiled `parrotrouter`, built with the same flags as `bun run build`. */
export function compiledBinary(): string {
  if (built) return built;
  const out = join(mkdtempSync(join(tmpdir(), "parrotrouter-bin-")), "parrotrouter");
  const root = resolve(import.meta.dir, "../..");
  const result = Bun.spawnSync(
    [process.execPath, "build", "src/main.ts", "--compile", "--bytecode", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--outfile", out],
    { cwd: root, stdout: "pipe", stderr: "pipe" },
  );
  if (result.exitCode !== 0) throw new Error(`build failed: ${result.stderr.toString()}`);
  built = out;
  return out;
}

export interface RunningBinary {
  url: string;
  process: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the process printed on stdout so far. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** Starts `binary serve --port 0` in `cwd` and resolves once it logs its URL. */
export async function startBinary(binary: string, cwd: string, args: string[] = [], env: Record<string, string> = {}): Promise<RunningBinary> {
  const child = Bun.spawn([binary, "serve", "--port", "0", ...args], { cwd, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  let stdout = "";
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  const pump = (async () => {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      stdout += decoder.decode(value, { stream: true });
    }
  })();
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
    throw new Error(`binary did not start: ${stdout}\n${await new Response(child.stderr).text()}`);
  }
  return {
    url,
    process: child,
    output: () => stdout,
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
