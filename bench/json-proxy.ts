// The second reference point: the least a proxy that bills from the answer must do with a
// JSON completion. It parses the request, forwards it re-serialised under the upstream's model
// name with a provider key, parses the answer, adds `usage.cost` and serialises it again, with
// the headers ParrotRouter sends. No auth, no hold, no write, no routing, no metrics.
// Listens on 127.0.0.1:$PORT and forwards to $UPSTREAM_URL.

const upstreamUrl = process.env.UPSTREAM_URL!;
const upstreamHeaders = { "content-type": "application/json", authorization: "Bearer sk-bench-provider-key" };

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  async fetch(request) {
    const body = JSON.parse(await request.text());
    const answer = await fetch(upstreamUrl, { method: "POST", body: JSON.stringify({ ...body, model: "bench-upstream" }), headers: upstreamHeaders });
    const completion = JSON.parse(await answer.text());
    completion.usage.cost = 0.000007;
    return new Response(JSON.stringify(completion), {
      headers: {
        "x-request-id": `req_${Bun.randomUUIDv7("buffer").toString("hex")}`,
        "x-parrotrouter-provider": "fake",
        "x-parrotrouter-model": "bench-upstream",
        "x-parrotrouter-cost-usd": "0.000007500",
        "x-parrotrouter-balance-usd": "999999.999992500",
        "content-type": "application/json",
      },
    });
  },
});
