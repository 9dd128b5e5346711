// The admin JSON API under /admin/api: projects, credits, keys and usage, behind the admin
// token (Bearer) or the admin page's session.

import { Elysia } from "elysia";
import { bearerToken } from "../keys/auth";
import { ApiError } from "../shared/errors";
import type { Runtime } from "../runtime";
import { readJsonObject } from "../api/body";
import { adminUsageAnswer, createKey, createProject, grantCredits, listKeys, listProjects, revokeKey, rotateKey, showCredits, updateKey } from "./service";
import type { AdminTokenVerifier } from "./token";

/** Extra ways in besides the Bearer token (the admin page's session cookie). */
export type AdminSessionCheck = (request: Request) => boolean;

export function adminApi(runtime: Runtime, verifier: AdminTokenVerifier, sessionCheck: AdminSessionCheck = () => false) {
  const requireAdmin = ({ request }: { request: Request }) => {
    const token = bearerToken(request.headers.get("authorization"));
    if (token ? verifier.verify(token) : sessionCheck(request)) return;
    throw new ApiError({ code: "invalid_admin_token", message: "Admin authentication required: send the admin token as a Bearer token" });
  };
  const body = (request: Request) => readJsonObject(request, 1024 * 1024);
  // No body means defaults; a body that does not parse is a 400, never silently "grace 0".
  const optionalBody = async (request: Request) => (request.headers.get("content-length") === "0" || !request.body ? {} : readJsonObject(request, 1024 * 1024));

  return new Elysia({ prefix: "/admin/api" })
    .onBeforeHandle(requireAdmin)
    // One line per admin call, like every /v1 request (a refused one is logged with its error).
    .onAfterHandle(({ request, set, responseValue }) => {
      const status = responseValue instanceof Response ? responseValue.status : typeof set.status === "number" ? set.status : 200;
      runtime.logger.info("admin request", { method: request.method, path: new URL(request.url).pathname, status });
    })
    .post("/projects", async ({ request }) => createProject(runtime, await body(request)), { parse: "none" })
    .get("/projects", () => listProjects(runtime))
    .get("/projects/:id/credits", ({ params }) => showCredits(runtime, params.id))
    .post("/projects/:id/credits", async ({ request, params }) => grantCredits(runtime, params.id, await body(request)), { parse: "none" })
    .post("/keys", async ({ request }) => createKey(runtime, await body(request)), { parse: "none" })
    .get("/keys", ({ query }) => listKeys(runtime, query.project))
    .patch("/keys/:id", async ({ request, params }) => updateKey(runtime, params.id, await body(request)), { parse: "none" })
    .post("/keys/:id/revoke", ({ params }) => revokeKey(runtime, params.id), { parse: "none" })
    .post("/keys/:id/rotate", async ({ request, params }) => rotateKey(runtime, params.id, await optionalBody(request)), { parse: "none" })
    .get("/usage", ({ query }) => adminUsageAnswer(runtime, query));
}
