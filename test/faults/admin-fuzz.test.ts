// Seeded fuzzing of what fuzz.test.ts does not reach: the admin login, the admin page's form
// posts, the admin credits read, /health and /metrics — garbage bodies and content types, huge
// and invalid fields, bad ids, missing or forged session, Origin and CSRF. None gives a 5xx or
// a stack trace, JSON errors are OpenAI-shaped, a forged request changes nothing, and the
// server (and the admin's own session) is still up at the end. The seed is fixed.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/shared/clock";
import { ADMIN_TOKEN, startTestServer, type TestServer } from "../support/server";
import { seededRandom, STACK_TRACE } from "./seeded-random";

let server: TestServer;
/** Moved past the login limiter's minute before each login probe, so every one reaches the form parser. */
const clock = new ManualClock();
let projectId: string;
let keyIds: string[];
/** The admin's real session: `pr_admin_session=…`, and the CSRF token its pages carry. */
let cookie: string;
let csrf: string;

async function logIn(): Promise<{ cookie: string; csrf: string }> {
  const login = await fetch(`${server.url}/admin/login`, { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: ADMIN_TOKEN }) });
  expect(login.status).toBe(303);
  const sessionCookie = login.headers.get("set-cookie")!.split(";")[0]!;
  const page = await (await fetch(`${server.url}/admin`, { headers: { cookie: sessionCookie } })).text();
  return { cookie: sessionCookie, csrf: page.match(/name="csrf-token" content="([^"]+)"/)![1]! };
}

beforeAll(async () => {
  server = await startTestServer({ clock });
  const project = server.createProject("fuzz-admin", 5);
  projectId = project.id;
  keyIds = Array.from({ length: 6 }, (_, i) => server.createKey({ project: project.name, name: `k${i}` }).id);
  ({ cookie, csrf } = await logIn());
});
afterAll(() => server.stop());

const rand = seededRandom(20261129);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const chance = (p: number) => rand() < p;

const FIELD_VALUES = [
  "", " ", "0", "1", "-1", "1.5", "-0", "1e308", "-1e308", "1e-300", "NaN", "Infinity", "0x10", "9007199254740993", "12abc",
  "banana", "live", "test", "prod", "daily", "weekly", "yearly", "inference", "read", "admin", "2027-01-31", "2000-01-01", "not-a-date",
  "gpt-4o, claude-*", "*", "💥", "\u0000", "\r\n", "<script>alert(1)</script>", "' OR 1=1 --", "%s%n", "%E0%A4%A", "a".repeat(5000), "a".repeat(60_000),
];
const BAD_IDS = ["nope", "../../etc/passwd", "%00", "💥", "a".repeat(2000), "' OR 1=1 --", "<b>x</b>", "fuzz-admin", "prj_0000", " ", "%E0%A4%A", "..%2F..%2Fadmin"];

/** The admin page's form posts and the fields each form has. */
const FORMS = [
  { path: () => "/admin/projects", fields: ["name", "credits_usd"] },
  { path: () => `/admin/projects/${pickId(projectId)}/credits`, fields: ["amount_usd", "note"] },
  { path: () => `/admin/projects/${pickId(projectId)}/keys`, fields: ["name", "env", "scopes", "models", "spend_limit_usd", "limit_reset", "rpm", "tpm", "expires_at"] },
  { path: () => `/admin/keys/${pickId(pick(keyIds))}/revoke`, fields: [] },
  { path: () => `/admin/keys/${pickId(pick(keyIds))}/rotate`, fields: ["grace_minutes"] },
  { path: () => "/admin/logout", fields: [], logout: true },
] as const;

/** A real id most of the time, else something that is not one (possibly not even a valid path segment). */
function pickId(real: string): string {
  if (chance(0.6)) return encodeURIComponent(real);
  const bad = pick(BAD_IDS);
  return bad.includes("%") ? bad : encodeURIComponent(bad);
}

const ENCODINGS = ["urlencoded", "urlencoded", "urlencoded", "text", "untyped", "multipart", "multipart-garbage", "multipart-no-boundary", "json", "binary", "bad-percent", "huge", "empty"] as const;
type Encoding = (typeof ENCODINGS)[number];

/** The fields as a body of the given kind, with the content type it claims (if any). */
function encodeForm(fields: [string, string][], encoding: Encoding): { body?: RequestInit["body"]; contentType?: string } {
  const urlencoded = new URLSearchParams(fields).toString();
  switch (encoding) {
    case "urlencoded": return { body: urlencoded, contentType: "application/x-www-form-urlencoded" };
    case "text": return { body: urlencoded, contentType: "text/plain" };
    case "untyped": return { body: new TextEncoder().encode(urlencoded) };
    case "bad-percent": return { body: `${urlencoded}&%E0%A4%A=%ZZ&=&&==&a=%`, contentType: "application/x-www-form-urlencoded" };
    case "huge": return { body: `${urlencoded}&pad=${"x".repeat(70_000)}`, contentType: "application/x-www-form-urlencoded" };
    case "empty": return { body: "", contentType: pick(["application/x-www-form-urlencoded", "multipart/form-data; boundary=B"]) };
    case "json": return { body: JSON.stringify(Object.fromEntries(fields)), contentType: "application/json" };
    case "binary": return { body: Uint8Array.from({ length: 1 + Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)), contentType: pick(["application/octet-stream", "application/x-www-form-urlencoded"]) };
    case "multipart": {
      const parts = fields.map(([name, value]) => `--B\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`).join("");
      return { body: `${parts}--B--\r\n`, contentType: "multipart/form-data; boundary=B" };
    }
    case "multipart-garbage": return { body: pick(["garbage", `--B\r\n${urlencoded}`, "--B--", `--B\r\nContent-Disposition: form-data\r\n\r\nx`]), contentType: "multipart/form-data; boundary=B" };
    case "multipart-no-boundary": return { body: urlencoded, contentType: "multipart/form-data" };
  }
}

/** A value each field accepts, so some fuzzed forms get through validation and change data. */
const SANE_VALUES: Record<string, () => string> = {
  name: () => `fuzz-${Math.floor(rand() * 1e9)}`,
  credits_usd: () => "1",
  amount_usd: () => pick(["0.5", "-0.25"]),
  note: () => "fuzz",
  env: () => pick(["live", "test"]),
  scopes: () => pick(["inference", "read"]),
  models: () => "gpt-4o, cheap",
  spend_limit_usd: () => "2",
  limit_reset: () => "daily",
  rpm: () => "60",
  tpm: () => "10000",
  expires_at: () => "2030-01-31",
  grace_minutes: () => "5",
};

/** Sane or hostile values for some of a form's fields (sometimes repeated, sometimes unknown names). */
function randomFields(names: readonly string[]): [string, string][] {
  const fields: [string, string][] = [];
  for (const name of names) if (chance(0.7)) fields.push([name, chance(0.6) && SANE_VALUES[name] ? SANE_VALUES[name]() : pick(FIELD_VALUES)]);
  if (chance(0.3)) fields.push([pick([...names, "extra", "_csrf2", "token"]), pick(FIELD_VALUES)]);
  return fields;
}

const ORIGINS = ["none", "none", "ours", "ours-referer", "foreign", "foreign-referer", "null", "garbage"] as const;
const ORIGIN_ALLOWED = new Set(["none", "ours", "ours-referer"]);

function originHeaders(choice: (typeof ORIGINS)[number]): Record<string, string> {
  switch (choice) {
    case "none": return {};
    case "ours": return { origin: server.url };
    case "ours-referer": return { referer: `${server.url}/admin` };
    case "foreign": return { origin: "https://evil.example" };
    case "foreign-referer": return { referer: "https://evil.example/admin" };
    case "null": return { origin: "null" };
    case "garbage": return { origin: pick(["::::", "http://", "javascript:alert(1)", "http://127.0.0.1:99999", "a".repeat(3000)]) };
  }
}

const SESSIONS = ["session", "session", "none", "forged", "bearer", "session+bearer", "shadowed"] as const;

function sessionHeaders(choice: (typeof SESSIONS)[number]): Record<string, string> {
  switch (choice) {
    case "session": return { cookie };
    case "none": return {};
    case "forged": return { cookie: pick([`pr_admin_session=${crypto.randomUUID()}`, "pr_admin_session=", `pr_admin_session=${"A".repeat(8000)}`, `PR_ADMIN_SESSION=${cookie.split("=")[1]}`]) };
    case "bearer": return { authorization: `Bearer ${ADMIN_TOKEN}` };
    case "session+bearer": return { cookie, authorization: `Bearer ${ADMIN_TOKEN}` };
    // A forged cookie placed before the real one: the first wins, so this is not logged in.
    case "shadowed": return { cookie: `pr_admin_session=forged; ${cookie}` };
  }
}

const CSRFS = ["valid", "valid", "missing", "wrong", "truncated", "header-only", "shadowed"] as const;

function withCsrf(fields: [string, string][], choice: (typeof CSRFS)[number]): { fields: [string, string][]; headers: Record<string, string> } {
  switch (choice) {
    case "valid": return { fields: [["_csrf", csrf], ...fields], headers: {} };
    case "missing": return { fields, headers: {} };
    case "wrong": return { fields: [["_csrf", pick(["", "x", "a".repeat(csrf.length), crypto.randomUUID()])], ...fields], headers: {} };
    case "truncated": return { fields: [["_csrf", csrf.slice(0, -1)], ...fields], headers: {} };
    case "header-only": return { fields, headers: { "x-csrf-token": csrf } };
    case "shadowed": return { fields: [["_csrf", "forged"], ["_csrf", csrf], ...fields], headers: {} };
  }
}

interface Probe {
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: RequestInit["body"];
  /** A state change that must be refused and leave the data as it was. */
  forged: boolean;
  /** Errors must be OpenAI-shaped JSON (the admin JSON API, /health, /metrics). */
  json: boolean;
}

function formProbe(): Probe {
  const form = pick(FORMS);
  // A third are what the admin's own browser sends; the rest have something missing or forged.
  const genuine = chance(0.35);
  const session = genuine ? "session" : pick(SESSIONS);
  const origin = genuine ? pick(["none", "ours", "ours-referer"] as const) : pick(ORIGINS);
  // A real logout would end the session the rest of the run uses: only forged ones are sent.
  const csrfChoice = "logout" in form && session.startsWith("session") && ORIGIN_ALLOWED.has(origin) ? pick(CSRFS.filter((c) => c !== "valid")) : genuine ? "valid" : pick(CSRFS);
  const encoding = genuine && chance(0.6) ? pick(["urlencoded", "multipart"] as const) : pick(ENCODINGS);
  const { fields, headers: csrfHeaders } = withCsrf(randomFields(form.fields), csrfChoice);
  const { body, contentType } = encodeForm(fields, encoding);
  const forged = !session.startsWith("session") || !ORIGIN_ALLOWED.has(origin) || csrfChoice !== "valid";
  return {
    label: `form session=${session} origin=${origin} csrf=${csrfChoice} encoding=${encoding}`,
    method: "POST",
    path: form.path(),
    headers: { ...sessionHeaders(session), ...originHeaders(origin), ...csrfHeaders, ...(contentType ? { "content-type": contentType } : {}) },
    body,
    forged,
    json: false,
  };
}

function loginProbe(): Probe {
  clock.advance(61_000);
  const origin = pick(ORIGINS);
  // The right token only ever comes from a foreign site here: a login CSRF that must be refused.
  const token = ORIGIN_ALLOWED.has(origin) ? pick(["", "wrong", ADMIN_TOKEN.slice(0, -1), `${ADMIN_TOKEN} `, "a".repeat(70_000), "💥", "\u0000"]) : ADMIN_TOKEN;
  const encoding = pick(ENCODINGS);
  const { body, contentType } = encodeForm([["token", token], ...randomFields(["extra"])], encoding);
  return {
    label: `login origin=${origin} encoding=${encoding}`,
    method: "POST",
    path: "/admin/login",
    headers: { ...(chance(0.3) ? { cookie } : {}), ...originHeaders(origin), ...(contentType ? { "content-type": contentType } : {}) },
    body,
    forged: true,
    json: false,
  };
}

const API_AUTHS = ["bearer", "session", "none", "wrong-bearer", "empty-bearer", "basic", "forged-cookie"] as const;

function apiAuthHeaders(choice: (typeof API_AUTHS)[number]): Record<string, string> {
  switch (choice) {
    case "bearer": return { authorization: `Bearer ${ADMIN_TOKEN}` };
    case "session": return { cookie };
    case "none": return {};
    case "wrong-bearer": return { authorization: `Bearer ${pick(["x", ADMIN_TOKEN.slice(1), "pr-live-aaaa", "a".repeat(5000)])}` };
    case "empty-bearer": return { authorization: pick(["Bearer", "Bearer ", "bearer  "]) };
    case "basic": return { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` };
    case "forged-cookie": return { cookie: `pr_admin_session=${crypto.randomUUID()}` };
  }
}

function creditsApiProbe(): Probe {
  const auth = chance(0.3) ? "bearer" : pick(API_AUTHS);
  const id = chance(0.2) ? "fuzz-admin" : pickId(projectId);
  if (chance(0.6)) {
    return { label: `GET credits auth=${auth}`, method: "GET", path: `/admin/api/projects/${id}/credits${chance(0.3) ? `?${pick(["limit=-1", "x=%ZZ", "project=nope"])}` : ""}`, headers: apiAuthHeaders(auth), forged: false, json: true };
  }
  // A state change through the JSON API with the session cookie needs our Origin and `x-csrf-token`.
  const origin = pick(ORIGINS);
  const csrfHeader = pick(["valid", "missing", "wrong"] as const);
  const headers: Record<string, string> = { ...apiAuthHeaders(auth), ...originHeaders(origin), "content-type": pick(["application/json", "application/x-www-form-urlencoded", "text/plain"]) };
  if (csrfHeader === "valid") headers["x-csrf-token"] = csrf;
  if (csrfHeader === "wrong") headers["x-csrf-token"] = "forged";
  const credits = chance(0.5);
  const path = credits ? `/admin/api/projects/${id}/credits` : "/admin/api/projects";
  const valid = credits ? { amount_usd: pick([1, -0.5, 1e308, "1", null]), ...(chance(0.5) ? { note: pick(FIELD_VALUES) } : {}) } : { name: `api-${Math.floor(rand() * 1e9)}`, ...(chance(0.5) ? { credits_usd: pick([1, -1, 1e308, "1"]) } : {}) };
  const body = chance(0.6) ? JSON.stringify(valid) : pick(["amount_usd=1", "{", "[]", "null", "", JSON.stringify({ ...valid, extra: 1 })]);
  const authorized = auth === "bearer" || (auth === "session" && ORIGIN_ALLOWED.has(origin) && csrfHeader === "valid");
  return { label: `POST ${credits ? "credits" : "projects"} auth=${auth} origin=${origin} csrf=${csrfHeader}`, method: "POST", path, headers, body, forged: !authorized, json: true };
}

function opsProbe(): Probe {
  const method = pick(["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);
  const query = chance(0.4) ? `?${pick(["x=%ZZ", "format=json", "a".repeat(4000), "name[]=1&name[]=2", "%00"])}` : "";
  const headers: Record<string, string> = { ...(chance(0.3) ? { authorization: pick(["Bearer junk", `Bearer ${ADMIN_TOKEN}`, "Basic ???"]) } : {}), ...(chance(0.3) ? { accept: pick(["application/json", "text/html", "*/*;q=garbage"]) } : {}), ...(chance(0.2) ? { cookie: `pr_admin_session=${crypto.randomUUID()}` } : {}) };
  const body = method === "GET" || method === "HEAD" ? undefined : pick(["", "{", JSON.stringify({ status: "down" }), "x".repeat(20_000)]);
  return { label: `${method} ops`, method, path: `${pick(["/health", "/metrics"])}${query}`, headers, body, forged: false, json: true };
}

function randomProbe(): Probe {
  const roll = rand();
  if (roll < 0.55) return formProbe();
  if (roll < 0.7) return loginProbe();
  if (roll < 0.88) return creditsApiProbe();
  return opsProbe();
}

/** Everything a forged request could change: projects, keys (and their revocations), the ledger. */
function dataFingerprint(): string {
  const row = server.runtime.database.sqlite
    .query(
      `select (select count(*) from projects) as projects, (select count(*) from api_keys) as keys,
              (select count(*) from api_keys where revoked_at is not null) as revoked,
              (select group_concat(id) from (select id from api_keys order by id)) as key_ids,
              (select count(*) from ledger_entries) as entries, (select total(balance_nano_usd) from projects) as balance`,
    )
    .get();
  return JSON.stringify(row);
}

describe("admin login, admin page forms, admin credits, /health and /metrics under seeded fuzz", () => {
  test("1500 seeded fuzzed requests: no 5xx, no stack trace, shaped JSON errors, forged requests change nothing", async () => {
    const failures: string[] = [];
    const fail = (probe: Probe, status: number, why: string, text = "") => {
      if (failures.length < 40) failures.push(`${why}: ${status} ${probe.method} ${probe.path.slice(0, 120)} [${probe.label}] → ${text.slice(0, 160)}`);
    };
    for (let i = 0; i < 1500; i++) {
      const probe = randomProbe();
      const before = probe.forged ? dataFingerprint() : "";
      const response = await fetch(`${server.url}${probe.path}`, { method: probe.method, headers: probe.headers, body: probe.body, redirect: "manual" });
      const text = await response.text();
      const { status } = response;
      const contentType = response.headers.get("content-type") ?? "";
      if (status >= 500) fail(probe, status, "5xx", text);
      if (STACK_TRACE.test(text)) fail(probe, status, "stack trace or source path in body", text);
      if (status >= 400 && contentType.includes("json")) {
        let body: { error?: { message?: unknown; type?: unknown; code?: unknown } } | undefined;
        try {
          body = JSON.parse(text);
        } catch {
          fail(probe, status, "JSON content type, body not JSON", text);
        }
        if (body && (typeof body.error?.message !== "string" || typeof body.error?.type !== "string" || typeof body.error?.code !== "string")) fail(probe, status, "unshaped error", text);
      }
      if (probe.json && status >= 400 && probe.method !== "HEAD" && !contentType.includes("json")) fail(probe, status, `non-JSON error (${contentType})`, text);
      if (status === 303 && !(response.headers.get("location") ?? "").startsWith("/admin")) fail(probe, status, `redirect off the admin page to ${response.headers.get("location")}`);
      if (probe.forged) {
        if (status < 400) fail(probe, status, "forged request not refused", text);
        if (response.headers.get("set-cookie")) fail(probe, status, `forged request set a cookie: ${response.headers.get("set-cookie")}`);
        if (dataFingerprint() !== before) fail(probe, status, "forged request changed data", `${before} → ${dataFingerprint()}`);
      }
      if (probe.method === "GET" && /^\/health(\?|$)/.test(probe.path) && (status !== 200 || JSON.parse(text).status !== "ok")) fail(probe, status, "/health not ok", text);
      if (probe.method === "GET" && /^\/metrics(\?|$)/.test(probe.path) && (status !== 200 || !text.includes("# TYPE"))) fail(probe, status, "/metrics not served", text);
    }
    expect(failures).toEqual([]);
  }, 60_000);

  test("afterwards the server is up, the admin's session still works, no hold is open, balances equal ledgers", async () => {
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const page = await fetch(`${server.url}/admin`, { headers: { cookie }, redirect: "manual" });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain(csrf);
    expect(server.runtime.credits.openHolds()).toBe(0);
    const mismatched = server.runtime.database.sqlite
      .query("select p.id from projects p where p.balance_nano_usd != (select coalesce(sum(amount_nano_usd), 0) from ledger_entries l where l.project_id = p.id)")
      .all();
    expect(mismatched).toEqual([]);
  });
});

describe("admin form bodies, pinned", () => {
  test("a malformed multipart login body is a 4xx, not a 500 (no session needed to send it)", async () => {
    clock.advance(61_000);
    for (const contentType of ["multipart/form-data; boundary=B", "multipart/form-data"]) {
      const response = await fetch(`${server.url}/admin/login`, { method: "POST", headers: { "content-type": contentType }, body: "garbage" });
      const text = await response.text();
      expect(`${contentType} → ${response.status}`).toMatch(/→ 4\d\d$/);
      expect(text).not.toMatch(STACK_TRACE);
    }
  });

  test("a chunked (no content-length) multipart login body over the 64 KB form limit is a 413", async () => {
    clock.advance(61_000);
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('--B\r\nContent-Disposition: form-data; name="token"\r\n\r\n'));
      },
      pull(controller) {
        // Bounded: 1 MB at most, far past the limit.
        if (sent++ < 64) controller.enqueue(chunk);
        else {
          controller.enqueue(new TextEncoder().encode("\r\n--B--\r\n"));
          controller.close();
        }
      },
    });
    const response = await fetch(`${server.url}/admin/login`, { method: "POST", headers: { "content-type": "multipart/form-data; boundary=B" }, body });
    expect(response.status).toBe(413);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("request_too_large");
    // The limit is named in the unit it was set in, not rounded to "0 MB".
    expect(error.message).toBe("Request body exceeds the limit of 64 KB");
  });
});
