// OpenAI and any OpenAI-compatible server (vLLM, Ollama, LM Studio…): a pass-through that
// keeps every body field, swaps in the provider's key and asks streams for their usage.

import { readUpstreamJson, sendUpstream } from "./http";
import { embeddingsAsRequested, openAIStreamChunks, usageFromOpenAI } from "./openai-format";
import type { ChatCall, ChatResult, EmbedCall, EmbedResult, Provider, ProviderSettings } from "./types";

const OPENAI_BASE_URL = "https://api.openai.com/v1";

export function createOpenAIProvider(settings: ProviderSettings): Provider {
  const baseUrl = (settings.base_url ?? OPENAI_BASE_URL).replace(/\/+$/, "");
  const headers: Record<string, string> = { ...settings.headers };
  if (settings.api_key) headers.authorization = `Bearer ${settings.api_key}`;

  return {
    async chat(call: ChatCall): Promise<ChatResult> {
      const body = call.stream ? withStreamUsage(call.body) : call.body;
      const response = await sendUpstream({
        url: `${baseUrl}/chat/completions`,
        headers,
        body,
        signal: call.signal,
        firstByteTimeoutMs: settings.first_byte_timeout_ms,
      });
      if (call.stream) {
        return { kind: "stream", chunks: openAIStreamChunks(response.body!, settings.idle_timeout_ms) };
      }
      const json = await readUpstreamJson(response, settings.idle_timeout_ms);
      return { kind: "json", body: json, usage: usageFromOpenAI(json.usage), model: String(json.model ?? call.body.model) };
    },

    async embed(call: EmbedCall): Promise<EmbedResult> {
      const response = await sendUpstream({
        url: `${baseUrl}/embeddings`,
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

/** Streams are billed from the upstream's own usage report, so always ask for it. */
export function withStreamUsage(body: Record<string, unknown>): Record<string, unknown> {
  const options = (body.stream_options && typeof body.stream_options === "object" ? body.stream_options : {}) as Record<string, unknown>;
  return { ...body, stream_options: { ...options, include_usage: true } };
}
