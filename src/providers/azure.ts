// Azure OpenAI: OpenAI's wire format at per-deployment URLs with an `api-version` query and
// an `api-key` header. The route's model name is the deployment name.

import { readUpstreamJson, sendUpstream } from "./http";
import { withStreamUsage } from "./openai";
import { embeddingsAsRequested, openAIStreamChunks, usageFromOpenAI } from "./openai-format";
import type { ChatCall, ChatResult, EmbedCall, EmbedResult, Provider, ProviderSettings, StreamChunk } from "./types";

/** The GA version that first accepts `stream_options.include_usage`, which billing relies on. */
const DEFAULT_API_VERSION = "2024-10-21";

export function createAzureProvider(settings: ProviderSettings): Provider {
  if (!settings.base_url) throw new Error(`provider ${settings.id}: azure needs base_url (https://<resource>.openai.azure.com)`);
  // Accept the resource endpoint with or without the `/openai` suffix Azure's portal sometimes shows.
  const endpoint = settings.base_url.replace(/\/+$/, "").replace(/\/openai$/, "");
  const apiVersion = encodeURIComponent(settings.api_version ?? DEFAULT_API_VERSION);
  const headers: Record<string, string> = { ...settings.headers };
  if (settings.api_key) headers["api-key"] = settings.api_key;
  const url = (deployment: unknown, operation: string) =>
    `${endpoint}/openai/deployments/${encodeURIComponent(String(deployment))}/${operation}?api-version=${apiVersion}`;

  return {
    async chat(call: ChatCall): Promise<ChatResult> {
      const response = await sendUpstream({
        url: url(call.body.model, "chat/completions"),
        headers,
        body: call.stream ? withStreamUsage(call.body) : call.body,
        signal: call.signal,
        firstByteTimeoutMs: settings.first_byte_timeout_ms,
      });
      if (call.stream) {
        return { kind: "stream", chunks: withoutPromptFilterChunks(openAIStreamChunks(response.body!, settings.idle_timeout_ms)) };
      }
      const json = await readUpstreamJson(response, settings.idle_timeout_ms);
      return { kind: "json", body: json, usage: usageFromOpenAI(json.usage), model: String(json.model ?? call.body.model) };
    },

    async embed(call: EmbedCall): Promise<EmbedResult> {
      const response = await sendUpstream({
        url: url(call.body.model, "embeddings"),
        headers,
        body: call.body,
        signal: call.signal,
        firstByteTimeoutMs: settings.first_byte_timeout_ms,
      });
      const json = embeddingsAsRequested(await readUpstreamJson(response, settings.idle_timeout_ms), call.body.encoding_format);
      return { body: json, usage: usageFromOpenAI(json.usage), model: String(json.model ?? call.body.model) };
    },
  };
}

/**
 * Azure opens every stream with a chunk that has `choices: []`, an empty id and model, and
 * only `prompt_filter_results`. OpenAI never sends that, and clients that read
 * `choices[0]` break on it, so it is dropped; usage chunks (also `choices: []`) are kept.
 */
async function* withoutPromptFilterChunks(chunks: AsyncIterable<StreamChunk>): AsyncGenerator<StreamChunk> {
  for await (const chunk of chunks) {
    if (!chunk.usage && chunk.textDelta === "" && chunk.data.includes('"prompt_filter_results"')) {
      const parsed = JSON.parse(chunk.data) as { choices?: unknown[] };
      if ((parsed.choices?.length ?? 0) === 0) continue;
    }
    yield chunk;
  }
}
