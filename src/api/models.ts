// GET /v1/models and /v1/models/{id} in OpenAI's list format: exactly the models this key
// may call, so a client is never shown a model it would then be refused.

import type { Server } from "bun";
import { isModelAllowed, requireModelAllowed } from "../keys/permissions";
import type { KeyRecord } from "../keys/repository";
import { ApiError } from "../shared/errors";
import type { Runtime } from "../runtime";
import { authenticateRequest } from "./request-context";

/** Models are listed with a fixed creation time: the config has none to offer. */
const CREATED = 1_700_000_000;

function modelObject(id: string) {
  return { id, object: "model", created: CREATED, owned_by: "parrotrouter" };
}

function visibleModels(runtime: Runtime, key: KeyRecord): string[] {
  return Object.keys(runtime.config.models).filter((name) => isModelAllowed(key, name));
}

/** Authenticates, then answers for the key (server.ts adds the key's x-ratelimit-* headers). */
function modelsCall(runtime: Runtime, request: Request, server: Server<unknown> | null | undefined, answer: (key: KeyRecord) => Response): Response {
  return answer(authenticateRequest(runtime, request, server).key);
}

export function handleListModels(runtime: Runtime, request: Request, server: Server<unknown> | null | undefined): Response {
  return modelsCall(runtime, request, server, (key) => Response.json({ object: "list", data: visibleModels(runtime, key).map(modelObject) }));
}

export function handleGetModel(runtime: Runtime, request: Request, server: Server<unknown> | null | undefined, id: string): Response {
  return modelsCall(runtime, request, server, (key) => {
    if (!runtime.config.models[id]) {
      throw new ApiError({ code: "model_not_found", message: `The model '${id}' does not exist`, param: "model" });
    }
    requireModelAllowed(key, id);
    return Response.json(modelObject(id));
  });
}
