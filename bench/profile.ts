// `bun bench/profile.ts`: runs ParrotRouter from source under `bun --cpu-prof` behind the fake
// upstream, drives BENCH_SECONDS (default 10) of load at BENCH_CONNECTIONS (default 64; BENCH_STREAM=1: streams),
// and leaves the profile (.cpuprofile and grep-friendly .md) in bench/profiles/ (git-ignored).

import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runLoad, runStreams } from "./load";
import { summariseProfile } from "./profile-categories";
import { authHeaders, createLiveKey, REQUEST_BODY, SOURCE, startRouter, startUpstream, stopAll, STREAM_BODY, writeConfig } from "./targets";

const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const profiles = join(import.meta.dir, "profiles");
mkdirSync(profiles, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "parrotrouter-profile-"));
try {
  const upstream = await startUpstream();
  const config = writeConfig(work, "profile", join(work, "profile.db"), upstream.port);
  const key = createLiveKey(SOURCE, config);
  const profiled = [process.execPath, "--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${profiles}`, "src/main.ts"];
  const router = await startRouter("parrotrouter (source, profiled)", profiled, config, key);
  const result = process.env.BENCH_STREAM
    ? await runStreams({ url: router.url, headers: authHeaders(key), body: STREAM_BODY, seconds })
    : await runLoad({ url: router.url, headers: authHeaders(key), body: REQUEST_BODY, connections: Number(process.env.BENCH_CONNECTIONS ?? 64), seconds });
  console.log(`${result.requests} requests, ${result.rps.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(3)} ms; profile in ${profiles}`);
} finally {
  await stopAll();
  rmSync(work, { recursive: true, force: true });
}

// The router wrote its profile on exit; summarise the newest one.
const newest = readdirSync(profiles)
  .filter((name) => name.endsWith(".cpuprofile"))
  .map((name) => join(profiles, name))
  .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
if (newest) {
  console.log(`\n| where the router's busy CPU went (${newest.split("/").pop()}) | share |\n|---|---:|`);
  for (const { category, percent } of summariseProfile(await Bun.file(newest).json())) console.log(`| ${category} | ${percent.toFixed(1)} % |`);
}
