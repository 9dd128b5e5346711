// Per-provider scripts for the end-to-end tests: how to make each fake answer with a given
// text, stream or tool call, and which names the answer should carry.

import type { Upstreams } from "./support";

export interface ProviderCase {
  /** The model name clients send. */
  model: string;
  /** The provider id in config, expected in x-parrotrouter-provider. */
  provider: keyof Upstreams;
  /** The route's upstream model (deployment for Azure), expected in x-parrotrouter-model. */
  route: string;
  /** The model name the upstream reports, expected in the body's `model`. */
  reported: string;
  /** Queues a plain answer. */
  answer(fakes: Upstreams, text: string): void;
  /** Queues a streamed answer made of these text chunks. */
  stream(fakes: Upstreams, chunks: string[]): void;
  /** Queues an answer that calls one tool. */
  toolCall(fakes: Upstreams, name: string, args: Record<string, unknown>): void;
  /** Queues a streamed answer that calls one tool (absent where the fake cannot stream tool calls). */
  streamToolCall?(fakes: Upstreams, name: string, args: Record<string, unknown>): void;
}

export const CASES: ProviderCase[] = [
  {
    model: "gpt-4o",
    provider: "openai",
    route: "gpt-4o",
    reported: "gpt-4o-2024-08-06",
    answer: (f, text) => f.openai.enqueue({ kind: "ok", text, model: "gpt-4o-2024-08-06" }),
    stream: (f, chunks) => f.openai.enqueue({ kind: "stream", chunks }),
    toolCall: (f, name, args) => f.openai.enqueue({ kind: "ok", toolCalls: [{ id: "call_abc1", name, arguments: JSON.stringify(args) }], model: "gpt-4o-2024-08-06" }),
  },
  {
    model: "claude-sonnet",
    provider: "anthropic",
    route: "claude-sonnet-4-5",
    reported: "claude-sonnet-4-5-20250929",
    answer: (f, text) => f.anthropic.enqueue({ kind: "ok", text, model: "claude-sonnet-4-5-20250929" }),
    stream: (f, chunks) => f.anthropic.enqueue({ kind: "stream", chunks }),
    toolCall: (f, name, args) => f.anthropic.enqueue({ kind: "ok", toolCalls: [{ id: "toolu_abc1", name, input: args }], model: "claude-sonnet-4-5-20250929" }),
    streamToolCall: (f, name, args) => f.anthropic.enqueue({ kind: "stream", toolCalls: [{ id: "toolu_abc1", name, input: args }] }),
  },
  {
    model: "gemini-flash",
    provider: "gemini",
    route: "gemini-2.5-flash",
    reported: "gemini-2.5-flash-001",
    answer: (f, text) => f.gemini.enqueue({ kind: "ok", text, modelVersion: "gemini-2.5-flash-001" }),
    stream: (f, chunks) => f.gemini.enqueue({ kind: "stream", chunks }),
    toolCall: (f, name, args) => f.gemini.enqueue({ kind: "ok", functionCalls: [{ name, args }], modelVersion: "gemini-2.5-flash-001" }),
    streamToolCall: (f, name, args) => f.gemini.enqueue({ kind: "stream", functionCalls: [{ name, args }] }),
  },
  {
    model: "azure-4o",
    provider: "azure",
    route: "prod-4o",
    reported: "gpt-4o-2024-08-06",
    answer: (f, text) => f.azure.enqueue({ kind: "ok", text }),
    stream: (f, chunks) => f.azure.enqueue({ kind: "stream", chunks }),
    toolCall: (f, name, args) => f.azure.enqueue({ kind: "ok", toolCalls: [{ id: "call_abc1", name, arguments: JSON.stringify(args) }] }),
  },
];

/** The translated dialects, whose streamed tool calls ParrotRouter builds itself. */
export const STREAM_TOOL_CASES = CASES.filter((c) => c.streamToolCall);
