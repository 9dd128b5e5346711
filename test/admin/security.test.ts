// Security of the admin page and the admin API: nothing answers without a session or the
// admin token, state changes need our Origin and the session's CSRF token, a `pr-` key never
// opens an admin route, the session cookie's flags, session expiry and the login rate limit.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ManualClock } from "../../src/shared/clock";
import { ADMIN_TOKEN, projectWithKey, startTestServer, type TestServer } from "../support/server";
import { FORM, formBody, loginAsAdmin, type AdminClient } from "./support";

let server: TestServer;
let project: { id: string; name: string };
let key: { id: string; key: string };
let admin: AdminClient;

beforeAll(async () => {
  server = await startTestServer();
  ({ project, key } = projectWithKey(server, 5));
  admin = await loginAsAdmin(server.url);
});
afterAll(() => server.stop());

const noRedirect = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { redirect: "manual", ...init });
const projectCount = () => server.runtime.projects.list().length;
const keyCount = () => server.runtime.keys.list().length;

/** Every page a browser can GET (besides the login form and static assets). */
const pagePaths = () => ["/admin", `/admin/projects/${project.id}`, "/admin/usage", `/admin/usage?project=${project.id}`];
/** Every state-changing page form, with valid-looking fields. */
const pageActions = (): [string, Record<string, string>][] => [
  ["/admin/projects", { name: "forged-project" }],
  [`/admin/projects/${project.id}/credits`, { amount_usd: "1000" }],
  [`/admin/projects/${project.id}/keys`, { name: "forged-key", scopes: "inference" }],
  [`/admin/keys/${key.id}/revoke`, {}],
  [`/admin/keys/${key.id}/rotate`, { grace_minutes: "0" }],
  ["/admin/logout", {}],
];
/** Every admin JSON API route. */
const apiCalls = (): [string, string, unknown?][] => [
  ["GET", "/admin/api/projects"],
  ["POST", "/admin/api/projects", { name: "forged-api-project" }],
  ["GET", `/admin/api/projects/${project.id}/credits`],
  ["POST", `/admin/api/projects/${project.id}/credits`, { amount_usd: 1000 }],
  ["GET", `/admin/api/keys?project=${project.id}`],
  ["POST", "/admin/api/keys", { project: project.id }],
  ["PATCH", `/admin/api/keys/${key.id}`, { rpm: 1 }],
  ["POST", `/admin/api/keys/${key.id}/revoke`],
  ["POST", `/admin/api/keys/${key.id}/rotate`, {}],
  ["GET", "/admin/api/usage"],
];

/** Asserts the project, its balance and its key are exactly as the test started them. */
function expectUntouched() {
  expect(server.runtime.projects.findById(project.id)!.balanceNanoUsd).toBe(5_000_000_000);
  expect(server.runtime.keys.find(key.id)!.revokedAt).toBeNull();
  expect(server.runtime.projects.find("forged-project")).toBeUndefined();
  expect(server.runtime.projects.find("forged-api-project")).toBeUndefined();
  expect(server.runtime.keys.list(project.id).length).toBe(1);
}

describe("without a session or the admin token", () => {
  test("pages redirect to the login form and show nothing", async () => {
    for (const path of pagePaths()) {
      const response = await noRedirect(path);
      expect(response.status, path).toBe(303);
      expect(response.headers.get("location")).toBe("/admin/login");
      expect(await response.text()).not.toContain(project.name);
    }
  });

  test("an unknown or forged session cookie is no session", async () => {
    for (const cookie of ["pr_admin_session=forged", `pr_admin_session=${"A".repeat(43)}`, `pr_admin_session=${admin.csrf}`]) {
      expect((await noRedirect("/admin", { headers: { cookie } })).status).toBe(303);
      expect((await noRedirect("/admin/api/projects", { headers: { cookie } })).status).toBe(401);
    }
  });

  test("state-changing forms are refused with 401 and change nothing", async () => {
    for (const [path, fields] of pageActions()) {
      const response = await noRedirect(path, { method: "POST", headers: { "content-type": FORM, origin: server.url }, body: formBody({ _csrf: admin.csrf, ...fields }) });
      expect(response.status, path).toBe(401);
    }
    expectUntouched();
  });

  test("every admin API route answers 401 in OpenAI's error shape", async () => {
    for (const [method, path, body] of apiCalls()) {
      const response = await noRedirect(path, { method, headers: { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      expect(response.status, `${method} ${path}`).toBe(401);
      expect(((await response.json()) as any).error.code).toBe("invalid_admin_token");
    }
    expectUntouched();
  });

  test("the stylesheet and copy script are public, static and hold no data", async () => {
    for (const path of ["/admin/assets/admin.css", "/admin/assets/copy.js"]) {
      const response = await noRedirect(path);
      expect(response.status).toBe(200);
      expect(await response.text()).not.toContain(project.name);
    }
  });
});

describe("a pr- key never opens an admin route", () => {
  test("as a Bearer token on the admin API, even a live key with every scope", async () => {
    for (const [method, path, body] of apiCalls()) {
      const response = await noRedirect(path, { method, headers: { authorization: `Bearer ${key.key}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
      expect(response.status, `${method} ${path}`).toBe(401);
    }
    expectUntouched();
  });

  test("as a Bearer token on the pages", async () => {
    for (const path of pagePaths()) expect((await noRedirect(path, { headers: { authorization: `Bearer ${key.key}` } })).status).toBe(303);
  });

  test("a pr- key next to a valid session cookie does not upgrade anything either", async () => {
    const response = await noRedirect("/admin/api/projects", { headers: { authorization: `Bearer ${key.key}`, cookie: admin.cookie } });
    expect(response.status).toBe(401);
  });

  test("as the login token", async () => {
    const response = await noRedirect("/admin/login", { method: "POST", headers: { "content-type": FORM, origin: server.url }, body: formBody({ token: key.key }) });
    expect(response.status).toBe(401);
    expect(response.headers.get("set-cookie")).toBeNull();
  });
});

describe("state changes need our Origin and the session's CSRF token", () => {
  test("page forms without a CSRF token, with a wrong one or with another session's are refused", async () => {
    const other = await loginAsAdmin(server.url);
    for (const [path, fields] of pageActions()) {
      for (const csrf of [undefined, "wrong", other.csrf]) {
        const body = formBody(csrf === undefined ? fields : { _csrf: csrf, ...fields });
        const response = await noRedirect(path, { method: "POST", headers: { cookie: admin.cookie, origin: server.url, "content-type": FORM }, body });
        expect(response.status, `${path} csrf=${csrf}`).toBe(403);
      }
    }
    expectUntouched();
    expect((await admin.get("/admin")).status).toBe(200); // the logout form was refused too
  });

  test("page forms from a foreign Origin (or Referer) are refused even with the right token", async () => {
    const foreign: Record<string, string>[] = [{ origin: "https://evil.example" }, { origin: "null" }, { referer: "https://evil.example/page" }, { origin: `http://127.0.0.1.evil.example` }];
    for (const [path, fields] of pageActions()) {
      for (const headers of foreign) {
        const response = await admin.post(path, fields, { origin: "", ...headers });
        expect(response.status, `${path} ${JSON.stringify(headers)}`).toBe(403);
      }
    }
    expectUntouched();
  });

  test("a login posted from another site is refused", async () => {
    const response = await noRedirect("/admin/login", { method: "POST", headers: { "content-type": FORM, origin: "https://evil.example" }, body: formBody({ token: ADMIN_TOKEN }) });
    expect(response.status).toBe(403);
    expect(response.headers.get("set-cookie")).toBeNull();
  });

  test("the cookie opens the admin API for reads; writes need x-csrf-token and our Origin", async () => {
    const json = { "content-type": "application/json", cookie: admin.cookie };
    expect((await noRedirect("/admin/api/projects", { headers: { cookie: admin.cookie } })).status).toBe(200);
    const attempts: Record<string, string>[] = [{}, { "x-csrf-token": "wrong" }, { "x-csrf-token": admin.csrf, origin: "https://evil.example" }];
    for (const extra of attempts) {
      const response = await noRedirect("/admin/api/projects", { method: "POST", headers: { ...json, ...extra }, body: JSON.stringify({ name: "forged-api-project" }) });
      expect(response.status, JSON.stringify(extra)).toBe(401);
    }
    expectUntouched();
    const allowed = await noRedirect("/admin/api/projects", { method: "POST", headers: { ...json, "x-csrf-token": admin.csrf, origin: server.url }, body: JSON.stringify({ name: "cookie-made" }) });
    expect(allowed.status).toBe(200);
    expect(server.runtime.projects.find("cookie-made")).toBeDefined();
  });

  test("the admin token as a Bearer needs no CSRF token (scripts and the CLI)", async () => {
    const response = await noRedirect("/admin/api/projects", { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ name: "bearer-made" }) });
    expect(response.status).toBe(200);
  });

  test("with the right token and Origin the same form works (the checks are not just refusing everything)", async () => {
    const response = await admin.post(`/admin/projects/${project.id}/credits`, { amount_usd: "0.5" });
    expect(response.status).toBe(303);
    expect(server.runtime.projects.findById(project.id)!.balanceNanoUsd).toBe(5_500_000_000);
    await admin.post(`/admin/projects/${project.id}/credits`, { amount_usd: "-0.5" });
  });
});

describe("pages are not cached, framed or scripted from elsewhere", () => {
  test("security headers on every page", async () => {
    for (const path of pagePaths()) {
      const response = await admin.get(path);
      expect(response.status).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
    }
  });
});

describe("session cookie", () => {
  const loginResponse = (headers: Record<string, string> = {}) =>
    noRedirect("/admin/login", { method: "POST", headers: { "content-type": FORM, origin: server.url, ...headers }, body: formBody({ token: ADMIN_TOKEN }) });

  test("HttpOnly, SameSite=Strict, scoped to /admin, a random 32-byte id; not Secure over plain http", async () => {
    const cookie = (await loginResponse()).headers.get("set-cookie")!;
    const parts = cookie.split(";").map((part) => part.trim());
    expect(parts[0]).toMatch(/^pr_admin_session=[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(parts[0]!.split("=")[1]!, "base64url").length).toBe(32);
    expect(parts).toContain("HttpOnly");
    expect(parts).toContain("SameSite=Strict");
    expect(parts).toContain("Path=/admin");
    expect(parts).toContain("Max-Age=43200");
    expect(parts).not.toContain("Secure");
  });

  test("Secure when the request came over https (x-forwarded-proto from the TLS proxy)", async () => {
    const cookie = (await loginResponse({ "x-forwarded-proto": "https" })).headers.get("set-cookie")!;
    expect(cookie.split(";").map((part) => part.trim())).toContain("Secure");
  });

  test("every login gets a new id", async () => {
    const first = (await loginResponse()).headers.get("set-cookie")!.split(";")[0];
    const second = (await loginResponse()).headers.get("set-cookie")!.split(";")[0];
    expect(first).not.toBe(second);
  });

  test("logout ends the session on the server and clears the cookie", async () => {
    const client = await loginAsAdmin(server.url);
    const response = await client.post("/admin/logout");
    expect(response.status).toBe(303);
    expect(response.headers.get("set-cookie")).toContain("Max-Age=0");
    expect((await client.get("/admin")).status).toBe(303);
    expect((await noRedirect("/admin/api/projects", { headers: { cookie: client.cookie } })).status).toBe(401);
  });
});

describe("session expiry and the login rate limit", () => {
  let timed: TestServer;
  const clock = new ManualClock(Date.UTC(2026, 10, 20, 12));
  beforeAll(async () => {
    timed = await startTestServer({ clock });
  });
  afterAll(() => timed.stop());

  const attempt = (token: string) =>
    fetch(`${timed.url}/admin/login`, { method: "POST", redirect: "manual", headers: { "content-type": FORM, origin: timed.url }, body: formBody({ token }) });

  test("a session stops working after 12 hours", async () => {
    const client = await loginAsAdmin(timed.url);
    clock.advance(11 * 3_600_000);
    expect((await client.get("/admin")).status).toBe(200);
    clock.advance(3_600_000);
    expect((await client.get("/admin")).status).toBe(303);
    expect((await fetch(`${timed.url}/admin/api/projects`, { headers: { cookie: client.cookie } })).status).toBe(401);
  });

  test("10 failed logins a minute per IP, then 429 with retry-after, even for the right token", async () => {
    for (let i = 0; i < 10; i++) expect((await attempt(`wrong-${i}`)).status).toBe(401);
    const blocked = await attempt("wrong-again");
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await blocked.text()).toContain("Too many failed attempts");
    const right = await attempt(ADMIN_TOKEN);
    expect(right.status).toBe(429);
    expect(right.headers.get("set-cookie")).toBeNull();
    // The bucket refills: after a while one more try is allowed, and the right token works.
    clock.advance(10_000);
    expect((await attempt(ADMIN_TOKEN)).status).toBe(303);
  });
});
