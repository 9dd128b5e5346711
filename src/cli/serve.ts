// `parrotrouter serve`: start the server, flush and prune in the background, shut down
// gracefully on SIGTERM/SIGINT and reload providers and models on SIGHUP.

import { adminPage } from "../admin/page";
import { setUpAdminToken } from "../admin/token";
import { ConfigError, loadConfigFile, type AppConfig } from "../config/load";
import type { Runtime } from "../runtime";
import { startServer } from "../server";

const LAST_USED_FLUSH_MS = 5_000;
const PRUNE_EVERY_MS = 3_600_000;
/** After the deadline closes connections, how long their streams get to settle. */
const SETTLE_AFTER_CLOSE_MS = 5_000;

/** Polls `done` until it holds or `ms` pass; true if it held. */
async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(10);
  }
  return true;
}

export async function serve(runtime: Runtime, port: number | undefined): Promise<void> {
  const { logger, config } = runtime;
  // Requests settled before a crash (kill -9) whose charges were not yet in the ledger.
  const applied = runtime.settlements.catchUp();
  if (applied > 0) logger.notice("applied settled requests to the ledger", { requests: applied });
  const verifier = setUpAdminToken(runtime, (token) => {
    // Printed once, to the terminal only: the database keeps just its hash.
    process.stderr.write(
      `\nNo admin token configured; generated one for this installation (shown only now):\n\n    ${token}\n\n` +
        `Keep it safe, or set PARROTROUTER_ADMIN_TOKEN / admin.token in the config.\n\n`,
    );
  });
  const page = adminPage(runtime, verifier);
  const server = startServer(runtime, { verifier, port, plugins: [page.plugin], sessionCheck: page.sessionCheck });
  logger.notice("listening", { url: server.url, config: config.sourcePath, database: config.databasePath, providers: Object.keys(config.providers), models: Object.keys(config.models) });

  const flush = setInterval(() => runtime.keyCache.flushLastUsed(), LAST_USED_FLUSH_MS);
  const prune = async () => {
    try {
      const deleted = await runtime.usage.pruneRequests(runtime.clock.now() - runtime.config.usageRetentionDays * 86_400_000);
      if (deleted > 0) logger.info("pruned usage rows", { deleted });
    } catch (error) {
      // e.g. the database closed by a shutdown in the middle of a prune; the next one goes on.
      logger.warn("pruning usage rows failed", { error: String(error) });
    }
  };
  void prune();
  const pruneTimer = setInterval(prune, PRUNE_EVERY_MS);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.notice("shutting down", { signal, grace_ms: runtime.config.server.shutdownGraceMs });
    clearInterval(flush);
    clearInterval(pruneTimer);
    const graceEnds = Date.now() + runtime.config.server.shutdownGraceMs;
    /** Waits up to `ms` for every open hold to settle; the database closes after this. */
    const awaitSettlements = async (ms: number) => {
      if (!(await waitFor(() => runtime.credits.openHolds() === 0, ms))) {
        logger.error("holds still open at exit; their requests stay uncharged", { open_holds: runtime.credits.openHolds() });
      }
    };
    const deadline = Bun.sleep(runtime.config.server.shutdownGraceMs).then(() => "deadline");
    const result = await Promise.race([server.stop().then(() => "drained"), deadline]);
    if (result === "drained") {
      // No connection is open, but a request whose client left may still be running (its
      // upstream call, then its 499 settlement): it gets the rest of the grace period.
      await awaitSettlements(graceEnds - Date.now());
    } else {
      logger.warn("shutdown deadline reached; closing remaining connections");
      // Closing a connection cancels its stream, and a cancelled stream settles what it
      // streamed: wait for those settlements before the database closes.
      await server.stop(true);
      await awaitSettlements(SETTLE_AFTER_CLOSE_MS);
    }
    runtime.close();
    logger.notice("stopped", { open_holds: runtime.credits.openHolds() });
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGHUP", () => {
    let next: AppConfig;
    try {
      const loaded = loadConfigFile(runtime.config.sourcePath);
      next = loaded.config;
      for (const warning of loaded.warnings) logger.warn(warning);
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [String(error)];
      logger.error("config reload refused; keeping the running config", { problems });
      return;
    }
    runtime.reload({ ...next, server: runtime.config.server, databasePath: runtime.config.databasePath });
    logger.info("config reloaded", { providers: Object.keys(next.providers), models: Object.keys(next.models) });
  });
}
