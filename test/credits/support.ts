// Ledger checks shared by the credit tests: balances against ledger sums, charges per request.

import type { TestServer } from "../support/server";

/** The project's ledger as stored, after applying settled requests (as every reader does). */
export function ledgerState(server: TestServer, projectId: string) {
  server.runtime.settlements.catchUp();
  const sqlite = server.runtime.database.sqlite;
  const balance = (sqlite.query("select balance_nano_usd as b from projects where id = ?").get(projectId) as { b: number }).b;
  const sum = (sqlite.query("select coalesce(sum(amount_nano_usd), 0) as s from ledger_entries where project_id = ?").get(projectId) as { s: number }).s;
  const charges = sqlite.query("select request_id, amount_nano_usd from ledger_entries where project_id = ? and kind = 'charge'").all(projectId) as { request_id: string; amount_nano_usd: number }[];
  return { balance, sum, charges };
}

export function requestRow(server: TestServer, requestId: string) {
  return server.runtime.database.sqlite.query("select * from requests where id = ?").get(requestId) as
    | { cost_nano_usd: number; usage_source: string; status: number; input_tokens: number; output_tokens: number; env: string }
    | null;
}

/** Waits until `check` is true (settlement of streams happens just after the last byte). */
export async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await Bun.sleep(10);
  }
}

/** The request rows of a key, oldest first: for requests whose client left before seeing x-request-id. */
export function requestRowsOfKey(server: TestServer, keyId: string) {
  return server.runtime.database.sqlite.query("select * from requests where key_id = ? order by created_at, id").all(keyId) as NonNullable<ReturnType<typeof requestRow>>[];
}
