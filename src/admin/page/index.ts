// The admin page at /admin: server-rendered HTML (no build step, embedded in the binary),
// logged in with the admin token. Every state change is a plain form post that checks the
// session, the Origin and the CSRF token, then redirects (POST-redirect-GET).

import type { Server } from "bun";
import { Elysia, type AnyElysia } from "elysia";
import { clientIp } from "../../api/request-context";
import { formatResetDuration, FailedAuthLimiter } from "../../keys/rate-limit";
import type { Runtime } from "../../runtime";
import { ApiError } from "../../shared/errors";
import { usdToNano } from "../../shared/money";
import type { AdminSessionCheck } from "../api";
import { createKey, createProject, grantCredits, revokeKey, rotateKey } from "../service";
import type { AdminTokenVerifier } from "../token";
import { ADMIN_CSS, COPY_SCRIPT } from "./assets";
import { projectData, projectsData, usageData, type UsageQuery } from "./data";
import { creditsBody, keyBody, projectBody, readForm, rotateBody } from "./forms";
import { isHttps, isSafeMethod, originAllowed, stateChangeAllowed } from "./guard";
import { AdminSessions, clearedSessionCookie, csrfMatches, sessionCookie, type AdminSession } from "./sessions";
import { formatUsd } from "./views/format";
import { loginPage, refusedPage } from "./views/login";
import { projectPage } from "./views/project";
import { projectsPage } from "./views/projects";
import { usagePage } from "./views/usage";

export interface AdminPage {
  /** The /admin routes, to mount on the app. */
  plugin: AnyElysia;
  /** Lets the session cookie open /admin/api: reads freely, state changes only with `x-csrf-token`. */
  sessionCheck: AdminSessionCheck;
  sessions: AdminSessions;
}

export interface AdminPageOptions {
  /** Failed logins allowed per IP and minute before further attempts wait. */
  loginAttemptsPerMinute?: number;
}

const HTML_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  // Pages may show a key's secret once: never cache, never frame.
  "cache-control": "no-store",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "content-security-policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

function htmlResponse(body: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { ...HTML_HEADERS, ...headers } });
}

function redirect(location: string, headers: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: { location, "cache-control": "no-store", ...headers } });
}

type PageContext = { request: Request; server: Server<unknown> | null; params: Record<string, string>; query: Record<string, string | undefined> };

export function adminPage(runtime: Runtime, verifier: AdminTokenVerifier, options: AdminPageOptions = {}): AdminPage {
  const sessions = new AdminSessions(runtime.clock);
  const loginFailures = new FailedAuthLimiter(options.loginAttemptsPerMinute ?? 10);

  /** A page for a logged-in admin; anyone else is sent to the login form. */
  const view = (render: (session: AdminSession, context: PageContext) => Response) => (context: PageContext) => {
    const session = sessions.fromRequest(context.request);
    return session ? render(session, context) : redirect("/admin/login");
  };

  /**
   * A state change: session, Origin and CSRF token are checked before anything happens. Errors
   * the admin can fix (validation, not found) are flashed on the page `back` leads to.
   */
  const action =
    (act: (session: AdminSession, form: URLSearchParams, context: PageContext) => Response, back: (context: PageContext) => string) =>
    async (context: PageContext) => {
      const { request } = context;
      const session = sessions.fromRequest(request);
      if (!session) return htmlResponse(refusedPage("You are not logged in (or your session expired). Log in and try again."), 401);
      if (!originAllowed(request)) return htmlResponse(refusedPage("This request came from another site and was refused."), 403);
      const form = await readForm(request);
      if (!csrfMatches(session, form.get("_csrf"))) return htmlResponse(refusedPage("The form was stale or forged (CSRF token mismatch). Reload the page and try again."), 403);
      try {
        return act(session, form, context);
      } catch (error) {
        if (!(error instanceof ApiError) || error.status >= 500) throw error;
        session.flash.error = error.message;
        return redirect(back(context));
      }
    };

  const login = async ({ request, server }: PageContext) => {
    if (!originAllowed(request)) return htmlResponse(refusedPage("This request came from another site and was refused."), 403);
    const ip = clientIp(request, server);
    const now = runtime.clock.now();
    const waitMs = loginFailures.blockedFor(ip, now);
    if (waitMs > 0) {
      return htmlResponse(loginPage(`Too many failed attempts. Try again in ${formatResetDuration(waitMs)}.`), 429, { "retry-after": String(Math.ceil(waitMs / 1000)) });
    }
    const form = await readForm(request);
    if (!verifier.verify(form.get("token") ?? "")) {
      loginFailures.recordFailure(ip, now);
      runtime.logger.warn("admin login failed", { ip });
      return htmlResponse(loginPage("That is not the admin token."), 401);
    }
    const previous = sessions.fromRequest(request);
    if (previous) sessions.destroy(previous);
    const session = sessions.create();
    return redirect("/admin", { "set-cookie": sessionCookie(session, isHttps(request)) });
  };

  const projectOrThrow = (id: string) => {
    const project = runtime.projects.findById(id);
    if (!project) throw new ApiError({ code: "not_found", message: `No project with id '${id}'` });
    return project;
  };
  const projectUrl = (id: string) => `/admin/projects/${encodeURIComponent(id)}`;
  const keyProjectUrl = (keyId: string) => {
    const key = runtime.keys.find(keyId);
    return key ? projectUrl(key.projectId) : "/admin";
  };

  const plugin = new Elysia()
    .get("/admin/assets/admin.css", () => new Response(ADMIN_CSS, { headers: { "content-type": "text/css; charset=utf-8", "cache-control": "public, max-age=3600" } }))
    .get("/admin/assets/copy.js", () => new Response(COPY_SCRIPT, { headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=3600" } }))
    .get("/admin/login", ({ request }) => (sessions.fromRequest(request) ? redirect("/admin") : htmlResponse(loginPage())))
    .post("/admin/login", login, { parse: "none" })
    .post(
      "/admin/logout",
      action(
          (session, _form, { request }) => {
            sessions.destroy(session);
            return redirect("/admin/login", { "set-cookie": clearedSessionCookie(isHttps(request)) });
          },
          () => "/admin/login",
        ),
      { parse: "none" },
    )
    .get("/admin", view((session) => htmlResponse(projectsPage({ session, flash: sessions.takeFlash(session), ...projectsData(runtime) }))))
    .post(
      "/admin/projects",
      action(
          (session, form) => {
            const project = createProject(runtime, projectBody(form));
            session.flash.notice = `Project ${project.name} created.`;
            return redirect(projectUrl(project.id));
          },
          () => "/admin",
        ),
      { parse: "none" },
    )
    .get("/admin/projects/:id", view((session, { params }) => {
        const project = runtime.projects.findById(params.id!);
        if (!project) return htmlResponse(refusedPage(`No project with id '${params.id}'.`), 404);
        return htmlResponse(projectPage({ session, flash: sessions.takeFlash(session), ...projectData(runtime, project) }));
      }),
    )
    .post(
      "/admin/projects/:id/credits",
      action(
          (session, form, { params }) => {
            const project = projectOrThrow(params.id!);
            const result = grantCredits(runtime, project.id, creditsBody(form));
            const amountNanoUsd = usdToNano(result.entry.amount_usd);
            session.flash.notice = `${amountNanoUsd >= 0 ? "Granted" : "Deducted"} ${formatUsd(Math.abs(amountNanoUsd))}; balance is now ${formatUsd(usdToNano(result.balance_usd))}.`;
            return redirect(projectUrl(project.id));
          },
          ({ params }) => projectUrl(params.id!),
        ),
      { parse: "none" },
    )
    .post(
      "/admin/projects/:id/keys",
      action(
          (session, form, { params }) => {
            const project = projectOrThrow(params.id!);
            const issued = createKey(runtime, keyBody(form, project.id));
            // The secret waits in the session for the one page view that shows it.
            session.flash.issuedKey = { name: issued.name, display: issued.display, secret: issued.key };
            return redirect(projectUrl(project.id));
          },
          ({ params }) => projectUrl(params.id!),
        ),
      { parse: "none" },
    )
    .post(
      "/admin/keys/:id/revoke",
      action(
          (session, _form, { params }) => {
            const key = revokeKey(runtime, params.id!);
            session.flash.notice = `Key ${key.display} revoked.`;
            return redirect(projectUrl(key.project_id));
          },
          ({ params }) => keyProjectUrl(params.id!),
        ),
      { parse: "none" },
    )
    .post(
      "/admin/keys/:id/rotate",
      action(
          (session, form, { params }) => {
            const issued = rotateKey(runtime, params.id!, rotateBody(form));
            session.flash.issuedKey = { name: issued.name, display: issued.display, secret: issued.key };
            return redirect(projectUrl(issued.project_id));
          },
          ({ params }) => keyProjectUrl(params.id!),
        ),
      { parse: "none" },
    )
    .get("/admin/usage", view((session, { query }) => {
        const { error, ...data } = usageData(runtime, query as UsageQuery);
        const flash = sessions.takeFlash(session);
        return htmlResponse(usagePage({ session, flash: error ? { ...flash, error } : flash, ...data }));
      }),
    );

  const sessionCheck: AdminSessionCheck = (request) => {
    const session = sessions.fromRequest(request);
    if (!session) return false;
    return isSafeMethod(request.method) || stateChangeAllowed(request, session, request.headers.get("x-csrf-token"));
  };

  return { plugin, sessionCheck, sessions };
}
