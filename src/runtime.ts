// Everything the server and the CLI share, built once from a config: database,
// repositories, services, providers and caches. Routes receive this, never globals.

import type { AppConfig } from "./config/load";
import { ExternalChangeWatcher } from "./db/change-watcher";
import { openDatabase, type DatabaseHandle } from "./db/connection";
import { CreditService } from "./credits/service";
import { LedgerRepository } from "./credits/ledger-repository";
import { SettlementApplier } from "./credits/settlement-applier";
import { KeyAuthenticator } from "./keys/auth";
import { KeyCache } from "./keys/cache";
import { FailedAuthLimiter, KeyRateLimiter } from "./keys/rate-limit";
import { KeyRepository } from "./keys/repository";
import { KeyService } from "./keys/service";
import { ProjectRepository } from "./projects/repository";
import { createMockProvider } from "./providers/mock";
import { createProvider } from "./providers/registry";
import type { Provider } from "./providers/types";
import { Router, systemSeams, type RouterSeams } from "./routing/router";
import { systemClock, type Clock } from "./shared/clock";
import { Logger } from "./shared/logger";
import { UsageRepository } from "./usage/repository";
import { Metrics } from "./metrics/registry";

export interface Runtime {
  config: AppConfig;
  database: DatabaseHandle;
  clock: Clock;
  logger: Logger;
  projects: ProjectRepository;
  keys: KeyService;
  keyCache: KeyCache;
  auth: KeyAuthenticator;
  rateLimiter: KeyRateLimiter;
  credits: CreditService;
  ledger: LedgerRepository;
  /** Applies settled usage rows to the ledger (charges, rollups, balances). */
  settlements: SettlementApplier;
  usage: UsageRepository;
  providers: Map<string, Provider>;
  /** Answers `pr-test-` keys in simulate mode; never reaches a real upstream. */
  simulator: Provider;
  /** Route plans, retries, fallback and route cooldown. */
  router: Router;
  changes: ExternalChangeWatcher;
  metrics: Metrics;
  /** Replaces providers, models and pricing (SIGHUP); keys, holds and caches stay. */
  reload(config: AppConfig): void;
  close(): void;
}

export interface RuntimeOptions {
  clock?: Clock;
  logger?: Logger;
  /** Retry waits and random draws of the router (tests record waits, seed draws). */
  routing?: RouterSeams;
  /** How long settled rows may wait before a background catch-up (tests lengthen it). */
  settlementApplyDelayMs?: number;
}

function buildProviders(config: AppConfig): Map<string, Provider> {
  return new Map(Object.values(config.providers).map((settings) => [settings.id, createProvider(settings)]));
}

export function createRuntime(config: AppConfig, options: RuntimeOptions = {}): Runtime {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? new Logger(config.logLevel);
  const database = openDatabase(config.databasePath);
  const keyRepository = new KeyRepository(database.db);
  const keyCache = new KeyCache(keyRepository);
  const settlements = new SettlementApplier(database.sqlite, {
    applyDelayMs: options.settlementApplyDelayMs,
    onBackgroundError: (error) => logger.warn("applying settlements to the ledger failed; retrying later", { error: String(error) }),
  });
  const ledger = new LedgerRepository(database.db, database.sqlite, settlements);
  const credits = new CreditService(ledger);
  const changes = new ExternalChangeWatcher(database.sqlite);
  changes.onExternalChange(() => {
    keyCache.clear();
    credits.clearCaches();
  });

  const metrics = new Metrics();
  metrics.gauge("parrotrouter_open_holds", "Credit holds placed and not yet settled.", () => credits.openHolds());
  metrics.gauge("parrotrouter_settlements_pending", "Requests settled (usage row committed) whose charge and rollup are not applied to the ledger yet.", () => settlements.pending());
  metrics.gauge("parrotrouter_settlements_already_charged_total", "Usage rows found charged already when applied (a request id written twice); counted once.", () => settlements.duplicates, "counter");
  metrics.gauge("parrotrouter_settlement_transactions_total", "Write transactions that committed usage rows (several requests share one under load).", () => credits.settlementTransactions(), "counter");

  const runtime: Runtime = {
    config,
    database,
    clock,
    logger,
    projects: new ProjectRepository(database.db, settlements),
    keys: new KeyService(keyRepository, keyCache),
    keyCache,
    auth: new KeyAuthenticator(keyCache, new FailedAuthLimiter()),
    rateLimiter: new KeyRateLimiter(),
    credits,
    ledger,
    settlements,
    usage: new UsageRepository(database.db, settlements),
    providers: buildProviders(config),
    simulator: createMockProvider({ id: "simulator", type: "mock", first_byte_timeout_ms: 60_000, idle_timeout_ms: 120_000 }),
    router: new Router(config.routing, clock, options.routing ?? systemSeams),
    changes,
    metrics,
    reload(next) {
      runtime.providers = buildProviders(next);
      runtime.router = new Router(next.routing, clock, options.routing ?? systemSeams);
      runtime.config = next;
      logger.setLevel(next.logLevel);
    },
    close() {
      keyCache.flushLastUsed();
      settlements.stop();
      try {
        settlements.catchUp();
      } catch (error) {
        // The rows stay settled; the next start applies them.
        logger.warn("applying settlements to the ledger failed at close; the next start applies them", { error: String(error) });
      }
      database.close();
    },
  };
  return runtime;
}
