// The pass-through baseline ParrotRouter is measured against: forward the body to the upstream
// and its answer (JSON or SSE) back. No auth, no parsing, no logging.
// Listens on 127.0.0.1:$PORT and forwards to $UPSTREAM_URL.

const upstream = process.env.UPSTREAM_URL!;
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  async fetch(request) {
    const answer = await fetch(upstream, { method: "POST", body: await request.arrayBuffer(), headers: { "content-type": "application/json" } });
    return new Response(answer.body, { status: answer.status, headers: { "content-type": answer.headers.get("content-type") ?? "application/json" } });
  },
});
