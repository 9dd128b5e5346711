// The benchmark's fake OpenAI upstream: a fixed chat.completion with usage, or an SSE stream
// whose first write (the role chunk and the first token) leaves at once and the rest
// BENCH_STREAM_GAP_MS apart (so time to first byte is not the whole stream), ending with
// OpenAI's usage-only chunk and [DONE]. The first token rides in the first write because
// ParrotRouter holds a stream back until its first content (to fall back before it).
// Listens on 127.0.0.1:$PORT.

const gapMs = Number(process.env.BENCH_STREAM_GAP_MS ?? 5);
const created = Math.floor(Date.now() / 1000);
const usage = { prompt_tokens: 14, completion_tokens: 9, total_tokens: 23, prompt_tokens_details: { cached_tokens: 0 } };
const base = { id: "chatcmpl-bench", created, model: "bench-upstream", system_fingerprint: null };

const completion = JSON.stringify({
  ...base,
  object: "chat.completion",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello! How can I help you today?", refusal: null }, logprobs: null, finish_reason: "stop" }],
  usage,
});

const frame = (choices: unknown[], extra = {}) => `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices, ...extra })}\n\n`;
const delta = (content: string) => [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }];
const frames = [
  frame([{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }]) + frame(delta("Hello!")),
  ...[" How", " can I", " help", " you today?"].map((text) => frame(delta(text))),
  frame([{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }]) + frame([], { usage }) + "data: [DONE]\n\n",
].map((text) => new TextEncoder().encode(text));

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  async fetch(request) {
    const body = await request.text();
    if (!body.includes('"stream":true')) return new Response(completion, { headers: { "content-type": "application/json" } });
    let next = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (next > 0) await Bun.sleep(gapMs);
        controller.enqueue(frames[next++]!);
        if (next === frames.length) controller.close();
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream" } });
  },
});
