// The built-in simulator: answers in OpenAI's exact wire format with deterministic text,
// realistic token counts, `max_tokens`, `n` and `stop`. Serves `npm start` offline and
// every `pr-test-` key in simulate mode.

import { estimateEmbeddingTokens, estimatePromptTokens } from "../shared/tokens";
import type { ChatCall, ChatResult, EmbedCall, EmbedResult, Provider, ProviderSettings, StreamChunk, Usage } from "./types";

/** Without `max_tokens` the simulator says this many words at most. */
const DEFAULT_REPLY_WORDS = 48;

/** The deterministic reply for a request: each word is one token. */
export function mockReplyWords(body: Record<string, unknown>): string[] {
  const prompt = lastUserText(body).replace(/\s+/g, " ").trim();
  const echo = prompt ? `You said: "${prompt.split(" ").slice(0, 24).join(" ")}".` : "You said nothing.";
  const text =
    `Hello from the ParrotRouter simulator. ${echo} This answer is generated locally, ` +
    `costs nothing upstream and streams one word per chunk so that clients can be tested ` +
    `end to end without any provider secret.`;
  return text.split(" ").slice(0, DEFAULT_REPLY_WORDS).map((word, i) => (i === 0 ? word : ` ${word}`));
}

function lastUserText(body: Record<string, unknown>): string {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as { role?: unknown; content?: unknown };
    if (message?.role !== "user") continue;
    if (typeof message.content === "string") return message.content;
    if (Array.isArray(message.content)) {
      return message.content
        .map((part) => (part && typeof part === "object" && typeof (part as { text?: unknown }).text === "string" ? (part as { text: string }).text : ""))
        .join(" ");
    }
  }
  return "";
}

interface MockChoice {
  text: string;
  tokens: string[];
  finishReason: "stop" | "length";
}

/** Applies `max_tokens` / `max_completion_tokens` and `stop` to the reply. */
function buildChoice(body: Record<string, unknown>): MockChoice {
  let tokens = mockReplyWords(body);
  let finishReason: MockChoice["finishReason"] = "stop";
  const maxTokens = Number(body.max_completion_tokens ?? body.max_tokens);
  if (Number.isInteger(maxTokens) && maxTokens > 0 && maxTokens < tokens.length) {
    tokens = tokens.slice(0, maxTokens);
    finishReason = "length";
  }
  const stops = (typeof body.stop === "string" ? [body.stop] : Array.isArray(body.stop) ? body.stop : []).filter(
    (s): s is string => typeof s === "string" && s.length > 0,
  );
  let text = tokens.join("");
  const cut = Math.min(...stops.map((stop) => text.indexOf(stop)).filter((i) => i >= 0));
  if (Number.isFinite(cut)) {
    text = text.slice(0, cut);
    finishReason = "stop";
    // Keep whole tokens up to the cut; the last one may be partial.
    const kept: string[] = [];
    let length = 0;
    for (const token of tokens) {
      if (length >= cut) break;
      kept.push(token.slice(0, cut - length));
      length += token.length;
    }
    tokens = kept;
  }
  return { text, tokens, finishReason };
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (ms <= 0) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

export function createMockProvider(settings: ProviderSettings): Provider {
  const latencyMs = settings.latency_ms ?? 0;
  const chunkDelayMs = settings.chunk_delay_ms ?? 0;

  return {
    async chat(call: ChatCall): Promise<ChatResult> {
      await sleep(latencyMs, call.signal);
      const model = String(call.body.model);
      const n = Math.min(Math.max(Number(call.body.n ?? 1) || 1, 1), 8);
      const choice = buildChoice(call.body);
      const usage: Usage = {
        inputTokens: estimatePromptTokens(call.body),
        outputTokens: choice.tokens.length * n,
        cachedInputTokens: 0,
      };
      const id = `chatcmpl-mock-${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
      const created = Math.floor(Date.now() / 1000);
      if (!call.stream) {
        return {
          kind: "json",
          model,
          usage,
          body: {
            id,
            object: "chat.completion",
            created,
            model,
            choices: Array.from({ length: n }, (_, index) => ({
              index,
              message: { role: "assistant", content: choice.text, refusal: null },
              logprobs: null,
              finish_reason: choice.finishReason,
            })),
            usage: openAIUsage(usage),
            system_fingerprint: "fp_parrotrouter_mock",
          },
        };
      }
      return { kind: "stream", chunks: streamChoice({ id, created, model, n, choice, usage, chunkDelayMs, signal: call.signal }) };
    },

    async embed(call: EmbedCall): Promise<EmbedResult> {
      await sleep(latencyMs, call.signal);
      const model = String(call.body.model);
      const inputs = Array.isArray(call.body.input) && typeof call.body.input[0] !== "number" ? call.body.input : [call.body.input];
      const dimensions = Number(call.body.dimensions) > 0 ? Math.min(Number(call.body.dimensions), 4096) : 16;
      const usage: Usage = { inputTokens: estimateEmbeddingTokens(call.body.input), outputTokens: 0, cachedInputTokens: 0 };
      return {
        model,
        usage,
        body: {
          object: "list",
          data: inputs.map((input, index) => {
            const vector = deterministicVector(JSON.stringify(input), dimensions);
            // The openai SDK asks for base64 (little-endian float32) unless told otherwise.
            const embedding = call.body.encoding_format === "base64" ? Buffer.from(new Float32Array(vector).buffer).toString("base64") : vector;
            return { object: "embedding", index, embedding };
          }),
          model,
          usage: { prompt_tokens: usage.inputTokens, total_tokens: usage.inputTokens },
        },
      };
    },
  };
}

function openAIUsage(usage: Usage) {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedInputTokens },
  };
}

async function* streamChoice(options: {
  id: string;
  created: number;
  model: string;
  n: number;
  choice: MockChoice;
  usage: Usage;
  chunkDelayMs: number;
  signal: AbortSignal;
}): AsyncGenerator<StreamChunk> {
  const { id, created, model, n, choice, usage } = options;
  const frame = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({ id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_parrotrouter_mock", choices, ...extra });
  for (let index = 0; index < n; index++) {
    yield { data: frame([{ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]), textDelta: "" };
  }
  for (const token of options.choice.tokens) {
    await sleep(options.chunkDelayMs, options.signal);
    for (let index = 0; index < n; index++) {
      yield { data: frame([{ index, delta: { content: token }, logprobs: null, finish_reason: null }]), textDelta: token };
    }
  }
  for (let index = 0; index < n; index++) {
    yield { data: frame([{ index, delta: {}, logprobs: null, finish_reason: choice.finishReason }]), textDelta: "" };
  }
  yield { data: frame([], { usage: openAIUsage(usage) }), textDelta: "", usage, usageOnly: true };
}

/** A unit vector derived from the input's hash: same input, same embedding. */
function deterministicVector(input: string, dimensions: number): number[] {
  let seed = Number(BigInt(Bun.hash.wyhash(input)) & 0xffffffffn);
  const values: number[] = [];
  for (let i = 0; i < dimensions; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    values.push(seed / 0x100000000 - 0.5);
  }
  const norm = Math.hypot(...values) || 1;
  return values.map((value) => Number((value / norm).toFixed(6)));
}
