// The admin page without a browser: projects, credits, issuing (secret shown once), revoking
// and rotating keys, key states, and the usage page's chart, tables, filter and paging.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hashKey } from "../../src/keys/format";
import { ManualClock } from "../../src/shared/clock";
import { startTestServer, type TestServer } from "../support/server";
import { loginAsAdmin, recordUsage, type AdminClient } from "./support";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 20, 12);
const clock = new ManualClock(NOW);
let server: TestServer;
let admin: AdminClient;

beforeAll(async () => {
  server = await startTestServer({ clock });
  admin = await loginAsAdmin(server.url);
});
afterAll(() => server.stop());

const text = async (response: Response | Promise<Response>) => (await response).text();
/** The text of the element with `id`, tags stripped and whitespace collapsed. */
function section(html: string, id: string): string {
  const start = html.indexOf(`id="${id}"`);
  if (start < 0) throw new Error(`no #${id} on the page`);
  const tag = html.lastIndexOf("<", start);
  const name = html.slice(tag + 1).match(/^\w+/)![0];
  const end = html.indexOf(`</${name}>`, start);
  return html.slice(tag, end).replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim();
}

async function createProject(name: string, creditsUsd?: string) {
  const response = await admin.post("/admin/projects", { name, ...(creditsUsd === undefined ? {} : { credits_usd: creditsUsd }) });
  expect(response.status).toBe(303);
  const location = response.headers.get("location")!;
  return { id: location.split("/").at(-1)!, url: location };
}

describe("projects", () => {
  test("create with starting credits from config or the form; listed with balance, spend this month and key count", async () => {
    const defaulted = await createProject("alpha");
    const funded = await createProject("bravo", "12.5");
    server.createKey({ project: "bravo" });
    recordUsage(server.runtime, { projectId: funded.id, keyId: server.runtime.keys.list(funded.id)[0]!.id, model: "gpt-4o", at: NOW - DAY, costNanoUsd: 250_000_000 });
    recordUsage(server.runtime, { projectId: funded.id, keyId: server.runtime.keys.list(funded.id)[0]!.id, model: "gpt-4o", at: Date.UTC(2026, 9, 31), costNanoUsd: 1_000_000_000 }); // last month
    const html = await text(admin.get("/admin"));
    expect(section(html, "projects")).toContain("alpha $5.00 $0.00 0");
    expect(section(html, "projects")).toContain("bravo $11.25 $0.25 1");
    expect(server.runtime.projects.findById(defaulted.id)!.balanceNanoUsd).toBe(5_000_000_000);
  });

  test("the flash confirms once; a duplicate name is refused with a readable message", async () => {
    const { url } = await createProject("charlie");
    expect(await text(admin.get(url))).toContain("Project charlie created.");
    expect(await text(admin.get(url))).not.toContain("Project charlie created.");
    const duplicate = await admin.post("/admin/projects", { name: "charlie" });
    expect(duplicate.headers.get("location")).toBe("/admin");
    expect(await text(admin.get("/admin"))).toContain("A project named &#39;charlie&#39; already exists");
  });

  test("names are escaped: a project cannot inject markup", async () => {
    await createProject(`<script>alert("x")</script>`);
    const html = await text(admin.get("/admin"));
    expect(html).not.toContain(`<script>alert`);
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
  });
});

describe("credits", () => {
  test("grant and adjust; zero and non-numbers are refused with a message", async () => {
    const { id, url } = await createProject("delta", "1");
    expect((await admin.post(`${url}/credits`, { amount_usd: "2.25", note: "top-up" })).headers.get("location")).toBe(url);
    expect(await text(admin.get(url))).toContain("Granted $2.25; balance is now $3.25.");
    await admin.post(`${url}/credits`, { amount_usd: "-0.25" });
    const adjusted = await text(admin.get(url));
    expect(adjusted).toContain("Deducted $0.25; balance is now $3.00.");
    expect(section(adjusted, "balance")).toBe("$3.00");
    expect(server.runtime.ledger.ledgerSum(id)).toBe(3_000_000_000);
    await admin.post(`${url}/credits`, { amount_usd: "0" });
    expect(await text(admin.get(url))).toContain("amount_usd must not be zero");
    await admin.post(`${url}/credits`, { amount_usd: "lots" });
    expect(await text(admin.get(url))).toContain("amount_usd: &#39;lots&#39; is not a number");
    expect(server.runtime.ledger.ledgerSum(id)).toBe(3_000_000_000);
  });
});

describe("keys", () => {
  let project: { id: string; url: string };
  beforeAll(async () => {
    project = await createProject("echo", "5");
  });

  const secretOn = (html: string) => html.match(/<code id="new-key-secret">([^<]+)<\/code>/)?.[1];

  test("issuing shows the secret once, with the warning and a copy button, and stores the settings", async () => {
    const response = await admin.post(`${project.url}/keys`, {
      name: "backend",
      env: "live",
      scopes: ["inference", "read"],
      models: "gpt-4o, cheap",
      spend_limit_usd: "3",
      limit_reset: "daily",
      rpm: "60",
      tpm: "10000",
      expires_at: "2027-01-31",
    });
    expect(response.headers.get("location")).toBe(project.url);
    const html = await text(admin.get(project.url));
    expect(html).toContain("Copy your API key now, we only show it once.");
    expect(html).toContain(`data-copy="new-key-secret"`);
    const secret = secretOn(html)!;
    expect(secret).toMatch(/^pr-live-[a-z0-9]{32}$/);
    const record = server.runtime.keys.list(project.id).find((key) => key.name === "backend")!;
    expect(record.keyHash).toBe(hashKey(secret));
    expect(record).toMatchObject({ scopes: ["inference", "read"], models: ["gpt-4o", "cheap"], spendLimitNanoUsd: 3_000_000_000, limitReset: "daily", rpm: 60, tpm: 10000, expiresAt: Date.UTC(2027, 0, 31, 23, 59, 59, 999) });
    const row = section(html, "keys");
    expect(row).toContain(`backend ${record.display} live inference, read gpt-4o, cheap $3.00 daily, 60 rpm, 10000 tpm, expires 2027-01-31 23:59:59 never active`);
    // Shown once: the next view of the page no longer has it, nor does any other page.
    const again = await text(admin.get(project.url));
    expect(secretOn(again)).toBeUndefined();
    expect(again).not.toContain(secret);
    expect(await text(admin.get("/admin/usage"))).not.toContain(secret);
  });

  test("the secret works against the API right away", async () => {
    await admin.post(`${project.url}/keys`, { name: "reader", scopes: "read", env: "test" });
    const secret = secretOn(await text(admin.get(project.url)))!;
    expect(secret).toStartWith("pr-test-");
    const response = await fetch(`${server.url}/v1/key`, { headers: { authorization: `Bearer ${secret}` } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as any).data.scopes).toEqual(["read"]);
  });

  test("invalid settings are flashed, nothing is issued", async () => {
    const before = server.runtime.keys.list(project.id).length;
    await admin.post(`${project.url}/keys`, { name: "no-scopes" });
    expect(await text(admin.get(project.url))).toContain("scopes: expected array length to be greater or equal to 1");
    await admin.post(`${project.url}/keys`, { name: "bad-rpm", scopes: "inference", rpm: "fast" });
    expect(await text(admin.get(project.url))).toContain("rpm: &#39;fast&#39; is not a number");
    await admin.post(`${project.url}/keys`, { name: "past", scopes: "inference", expires_at: "2020-01-01" });
    expect(await text(admin.get(project.url))).toContain("expires_at must be in the future");
    expect(server.runtime.keys.list(project.id).length).toBe(before);
  });

  test("revoke: the key stops working and shows as revoked without actions", async () => {
    const issued = server.createKey({ project: project.id, name: "doomed" });
    expect((await admin.post(`/admin/keys/${issued.id}/revoke`)).headers.get("location")).toBe(project.url);
    const html = await text(admin.get(project.url));
    expect(html).toContain(`Key ${issued.display} revoked.`);
    expect(html).not.toContain(`/admin/keys/${issued.id}/revoke`);
    expect(section(html, "keys")).toContain(`doomed ${issued.display}`);
    expect(html).toMatch(new RegExp(`data-key-id="${issued.id}"[\\s\\S]*?status revoked`));
    expect((await fetch(`${server.url}/v1/key`, { headers: { authorization: `Bearer ${issued.key}` } })).status).toBe(401);
  });

  test("rotate: a new secret shown once; the old key is 'rotating' for its grace period, then revoked", async () => {
    const issued = server.createKey({ project: project.id, name: "rolling" });
    await admin.post(`/admin/keys/${issued.id}/rotate`, { grace_minutes: "60" });
    const html = await text(admin.get(project.url));
    const fresh = secretOn(html)!;
    expect(fresh).not.toBe(issued.key);
    expect(html).toMatch(new RegExp(`data-key-id="${issued.id}"[\\s\\S]*?status rotating[\\s\\S]*?until 2026-11-20 13:00:00`));
    for (const secret of [issued.key, fresh]) expect((await fetch(`${server.url}/v1/key`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(200);
    clock.advance(3_600_000);
    try {
      expect(await text(admin.get(project.url))).toMatch(new RegExp(`data-key-id="${issued.id}"[\\s\\S]*?status revoked`));
      expect((await fetch(`${server.url}/v1/key`, { headers: { authorization: `Bearer ${issued.key}` } })).status).toBe(401);
    } finally {
      clock.set(NOW);
    }
  });

  test("an expired key shows as expired", async () => {
    const issued = server.createKey({ project: project.id, name: "short-lived", expires_at: NOW + 1000 });
    clock.advance(2000);
    try {
      expect(await text(admin.get(project.url))).toMatch(new RegExp(`data-key-id="${issued.id}"[\\s\\S]*?status expired`));
    } finally {
      clock.set(NOW);
    }
  });

  test("last used: 'never' until the key makes a request, then the time of that request (before and after the flush)", async () => {
    const issued = server.createKey({ project: project.id, name: "busy" });
    const lastUsedCell = (html: string) => {
      const row = html.match(new RegExp(`<tr data-key-id="${issued.id}">([\\s\\S]*?)</tr>`))![1]!;
      return [...row.matchAll(/<td>([\s\S]*?)<\/td>/g)][6]![1]!.trim();
    };
    expect(lastUsedCell(await text(admin.get(project.url)))).toBe("never");
    clock.set(NOW + 90_000);
    try {
      const response = await fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${issued.key}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "cheap", messages: [{ role: "user", content: "Hi" }] }),
      });
      expect(response.status).toBe(200);
      await response.text();
      clock.set(NOW + 600_000);
      expect(lastUsedCell(await text(admin.get(project.url)))).toBe("2026-11-20 12:01:30");
      server.runtime.keyCache.flushLastUsed();
      expect(lastUsedCell(await text(admin.get(project.url)))).toBe("2026-11-20 12:01:30");
    } finally {
      clock.set(NOW);
    }
  });

  test("an unknown project or key is a readable 404 / message, not a crash", async () => {
    expect((await admin.get("/admin/projects/proj_nope")).status).toBe(404);
    const response = await admin.post("/admin/keys/key_nope/revoke");
    expect(response.headers.get("location")).toBe("/admin");
    expect(await text(admin.get("/admin"))).toContain("No key with id &#39;key_nope&#39;");
  });
});

describe("usage page", () => {
  let projectId: string;
  let keyA: { id: string; display: string };
  let keyB: { id: string; display: string };

  beforeAll(async () => {
    ({ id: projectId } = await createProject("foxtrot", "100"));
    keyA = server.createKey({ project: projectId, name: "key-a" });
    keyB = server.createKey({ project: projectId, name: "key-b" });
    // 3 days ago: 2 requests; yesterday: 55 requests (for paging); 40 days ago: outside the default range.
    for (let i = 0; i < 2; i++) recordUsage(server.runtime, { projectId, keyId: keyA.id, model: "gpt-4o", at: NOW - 3 * DAY + i, costNanoUsd: 2_000_000, inputTokens: 100, outputTokens: 50 });
    for (let i = 0; i < 55; i++) recordUsage(server.runtime, { projectId, keyId: keyB.id, model: "cheap", at: NOW - DAY + i * 1000, costNanoUsd: 1_000, latencyMs: 7 });
    recordUsage(server.runtime, { projectId, keyId: keyA.id, model: "gpt-4o", at: NOW - 40 * DAY, costNanoUsd: 9_000_000_000 });
  });

  const usage = async (query: string) => text(admin.get(`/admin/usage?project=${projectId}${query}`));

  test("last 30 days by default: totals, a bar per day, tables by model and by key", async () => {
    const html = await usage("");
    expect(section(html, "total-requests")).toBe("57");
    expect(section(html, "total-spend")).toBe("$0.004055");
    expect(html).toContain(`<input type="date" name="from" value="2026-10-22">`);
    expect(html).toContain(`<input type="date" name="to" value="2026-11-20">`);
    const bars = [...html.matchAll(/<rect [^>]*data-day="([\d-]+)"><title>([^<]+)<\/title>/g)].map((m) => [m[1], m[2]]);
    expect(bars.length).toBe(30);
    expect(bars).toContainEqual(["2026-11-17", "2026-11-17: $0.004 (2 requests)"]);
    expect(bars).toContainEqual(["2026-11-19", "2026-11-19: $0.000055 (55 requests)"]);
    expect(bars).toContainEqual(["2026-11-18", "2026-11-18: $0.00 (0 requests)"]);
    expect(section(html, "by-model")).toContain("cheap 55 550 275 $0.000055");
    expect(section(html, "by-model")).toContain("gpt-4o 2 200 100 $0.004");
    expect(section(html, "by-key")).toContain(`key-a (${keyA.display}) 2 200 100 $0.004`);
    expect(section(html, "by-key")).toContain(`key-b (${keyB.display}) 55`);
  });

  test("recent requests: newest first, 50 a page, with time, key, model, tokens, cost, latency and status", async () => {
    const first = await usage("");
    const rows = [...first.matchAll(/<tr data-request-id=/g)];
    expect(rows.length).toBe(50);
    expect(section(first, "recent")).toContain(`2026-11-19 12:00:54 ${keyB.display} cheap 10 / 5 $0.000001 7 ms 200`);
    expect(first).toContain(`rel="next"`);
    expect(first).not.toContain(`rel="prev"`);
    const next = first.match(/href="([^"]+)" rel="next"/)![1]!.replaceAll("&amp;", "&");
    const second = await text(admin.get(next));
    expect([...second.matchAll(/<tr data-request-id=/g)].length).toBe(7);
    expect(second).toContain(`rel="prev"`);
    expect(second).not.toContain(`rel="next"`);
    expect(section(second, "recent")).toContain(`2026-11-17 12:00:00 ${keyA.display} gpt-4o 100 / 50 $0.002 42 ms 200`);
  });

  test("the date range filters the chart, the tables and the list (both ends inclusive)", async () => {
    const html = await usage("&from=2026-10-01&to=2026-10-11");
    expect(section(html, "total-requests")).toBe("1");
    expect(section(html, "total-spend")).toBe("$9.00");
    expect([...html.matchAll(/<rect /g)].length).toBe(11);
    expect([...html.matchAll(/<tr data-request-id=/g)].length).toBe(1);
    const yesterday = await usage("&from=2026-11-19&to=2026-11-19");
    expect(section(yesterday, "total-requests")).toBe("55");
  });

  test("a key filter narrows to that key", async () => {
    const html = await usage(`&key=${keyA.id}&from=2026-10-01&to=2026-11-20`);
    expect(section(html, "total-requests")).toBe("3");
    expect(section(html, "by-key")).not.toContain("key-b");
  });

  test("an unknown project shows a message and no usage (not every project's)", async () => {
    const html = await text(admin.get("/admin/usage?project=nope"));
    expect(html).toContain("No project &#39;nope&#39;");
    expect(section(html, "total-requests")).toBe("0");
  });
});

describe("works on a phone and without JavaScript", () => {
  test("viewport meta, a narrow-screen stylesheet, scrollable tables", async () => {
    const html = await text(admin.get("/admin"));
    expect(html).toContain(`<meta name="viewport" content="width=device-width, initial-scale=1">`);
    expect(html).toContain(`<div class="scroll">`);
    const css = await text(fetch(`${server.url}/admin/assets/admin.css`));
    expect(css).toContain("@media (max-width: 600px)");
  });

  test("every action is a plain form post; the only script is the external copy helper", async () => {
    for (const path of ["/admin", "/admin/usage", `/admin/projects/${server.runtime.projects.find("echo")!.id}`]) {
      const html = await text(admin.get(path));
      expect(html).not.toMatch(/\son\w+=/); // no inline event handlers
      expect([...html.matchAll(/<script/g)].length).toBe(1);
      expect(html).toContain(`<script src="/admin/assets/copy.js" defer></script>`);
    }
  });
});
