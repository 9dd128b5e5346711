// A fake OpenAI upstream on a free local port, speaking OpenAI's real wire format: JSON
// completions with `usage`, SSE `chat.completion.chunk` streams ending in `data: [DONE]`,
// error bodies `{error: {message, type, param, code}}`. Tests script its next answers.

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: any;
}

/** How the fake answers one request; the default is a normal completion. */
export type FakeBehavior =
  | {
      kind: "ok";
      text?: string;
      /** Tool calls in the message (arguments are JSON strings); finish_reason becomes tool_calls. */
      toolCalls?: { id?: string; name: string; arguments: string }[];
      usage?: { prompt_tokens: number; completion_tokens: number; cached_tokens?: number } | null;
      model?: string;
      delayMs?: number;
      /** Sends the headers and half the JSON body, then nothing more (until the reader goes away). */
      stallBody?: boolean;
    }
  | { kind: "error"; status: number; body?: unknown; headers?: Record<string, string> }
  /**
   * Streams `chunks` text deltas `delayMs` apart (or `delaysMs[i]` before chunk i); `dieAfter`
   * drops the connection after that many; `stallAfter` sends nothing more after that many
   * (until the reader goes away).
   */
  | { kind: "stream"; chunks?: string[]; delayMs?: number; delaysMs?: number[]; dieAfter?: number; stallAfter?: number; sendUsage?: boolean; usage?: { prompt_tokens: number; completion_tokens: number } }
  /** Never sends headers (until the test closes the fake). */
  | { kind: "hang" }
  | { kind: "redirect"; location: string };

export interface FakeOpenAI {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Answers the next requests with these behaviors, in order, then falls back to `ok`. */
  enqueue(...behaviors: FakeBehavior[]): void;
  /** Forgets queued behaviors and recorded requests. */
  reset(): void;
  /** Streams currently open towards ParrotRouter (a closed client connection drops to 0). */
  openStreams(): number;
  /** Number of streams whose reader went away before the stream finished. */
  cancelledStreams(): number;
  /** Number of `hang` requests whose connection ParrotRouter closed. */
  abandonedHangs(): number;
  close(): Promise<void>;
}

const encoder = new TextEncoder();

/**
 * `ignoreEncodingFormat` plays an OpenAI-compatible server (Ollama, older vLLM) that answers
 * float arrays even when asked for base64; real OpenAI honours `encoding_format`.
 */
export function startFakeOpenAI(options: { ignoreEncodingFormat?: boolean } = {}): FakeOpenAI {
  const requests: RecordedRequest[] = [];
  const queue: FakeBehavior[] = [];
  let open = 0;
  let cancelled = 0;
  let abandoned = 0;

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const text = request.method === "POST" ? await request.text() : "";
      let body: any = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        body = text;
      }
      requests.push({ method: request.method, path: url.pathname, headers: Object.fromEntries(request.headers), body });
      const behavior = queue.shift() ?? (body?.stream ? { kind: "stream" as const } : { kind: "ok" as const });
      const model = body?.model ?? "gpt-4o-2024-08-06";

      if (behavior.kind === "hang") {
        request.signal.addEventListener("abort", () => abandoned++, { once: true });
        return new Promise<Response>(() => {});
      }
      if (behavior.kind === "redirect") return new Response(null, { status: 307, headers: { location: behavior.location } });
      if (behavior.kind === "error") {
        return Response.json(
          behavior.body ?? { error: { message: `fake upstream error ${behavior.status}`, type: "server_error", param: null, code: null } },
          { status: behavior.status, headers: behavior.headers },
        );
      }
      if (url.pathname.endsWith("/embeddings")) {
        const inputs = Array.isArray(body.input) ? body.input : [body.input];
        return Response.json({
          object: "list",
          data: inputs.map((_: unknown, index: number) => ({ object: "embedding", index, embedding: embeddingOf([0.1, 0.2, 0.3], body.encoding_format, options) })),
          model,
          usage: { prompt_tokens: 7 * inputs.length, total_tokens: 7 * inputs.length },
        });
      }
      if (behavior.kind === "ok") {
        if (behavior.delayMs) await Bun.sleep(behavior.delayMs);
        const usage = behavior.usage === undefined ? { prompt_tokens: 12, completion_tokens: 5 } : behavior.usage;
        const toolCalls = behavior.toolCalls?.map((call, i) => ({ id: call.id ?? `call_fake${i + 1}`, type: "function", function: { name: call.name, arguments: call.arguments } }));
        const message = { role: "assistant", content: behavior.text ?? (toolCalls ? null : "Hello from the fake upstream."), refusal: null, ...(toolCalls ? { tool_calls: toolCalls } : {}) };
        const completion = {
          id: "chatcmpl-fake123",
          object: "chat.completion",
          created: 1730000000,
          model: behavior.model ?? model,
          choices: [{ index: 0, message, logprobs: null, finish_reason: toolCalls ? "tool_calls" : "stop" }],
          ...(usage
            ? { usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.prompt_tokens + usage.completion_tokens, prompt_tokens_details: { cached_tokens: usage.cached_tokens ?? 0 } } }
            : {}),
          system_fingerprint: "fp_fake",
        };
        if (!behavior.stallBody) return Response.json(completion);
        const text = JSON.stringify(completion);
        open++;
        let closed = false;
        const close = () => {
          if (!closed) open--;
          closed = true;
        };
        return new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(encoder.encode(text.slice(0, text.length / 2)));
              request.signal.addEventListener("abort", close, { once: true });
            },
            cancel: close,
          }),
          { headers: { "content-type": "application/json" } },
        );
      }
      // stream
      const chunks = behavior.chunks ?? ["Hello", " from", " the", " fake", " stream."];
      const wantsUsage = behavior.sendUsage ?? body?.stream_options?.include_usage === true;
      const frame = (obj: unknown) => encoder.encode(`data: ${JSON.stringify(obj)}\n\n`);
      const base = { id: "chatcmpl-fakestream", object: "chat.completion.chunk", created: 1730000000, model, system_fingerprint: "fp_fake" };
      let finished = false;
      let cancelledThis = false;
      open++;
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          try {
            controller.enqueue(frame({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] }));
            let sent = 0;
            for (const [i, chunk] of chunks.entries()) {
              const delayMs = behavior.delaysMs?.[i] ?? behavior.delayMs;
              if (delayMs) await Bun.sleep(delayMs);
              if (behavior.dieAfter !== undefined && sent >= behavior.dieAfter) {
                await Bun.sleep(20); // let the bytes sent so far reach the client first
                controller.error(new Error("fake upstream died"));
                return;
              }
              if (behavior.stallAfter !== undefined && sent >= behavior.stallAfter) {
                while (!cancelledThis) await Bun.sleep(20);
                return;
              }
              controller.enqueue(frame({ ...base, choices: [{ index: 0, delta: { content: chunk }, logprobs: null, finish_reason: null }] }));
              sent++;
            }
            controller.enqueue(frame({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }] }));
            if (wantsUsage) {
              const usage = behavior.usage ?? { prompt_tokens: 12, completion_tokens: chunks.length };
              controller.enqueue(frame({ ...base, choices: [], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } }));
            }
            controller.enqueue(encoder.encode("data: [DONE]\n\n"));
            finished = true;
            controller.close();
          } catch {
            // the reader went away
          } finally {
            open--;
          }
        },
        cancel() {
          cancelledThis = true;
          if (!finished) cancelled++;
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    port: server.port!,
    requests,
    enqueue: (...behaviors) => queue.push(...behaviors),
    reset: () => {
      queue.length = 0;
      requests.length = 0;
    },
    openStreams: () => open,
    abandonedHangs: () => abandoned,
    cancelledStreams: () => cancelled,
    close: async () => {
      server.stop(true);
    },
  };
}

/** An embedding in the requested encoding: base64 is little-endian float32, as OpenAI sends it. */
function embeddingOf(values: number[], encodingFormat: unknown, options: { ignoreEncodingFormat?: boolean }): number[] | string {
  if (encodingFormat !== "base64" || options.ignoreEncodingFormat) return values;
  return Buffer.from(new Float32Array(values).buffer).toString("base64");
}
