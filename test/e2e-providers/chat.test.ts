// Chat through the running server with the official openai SDK against every upstream's fake:
// text, streams, images, JSON mode, and the response saying who served it.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { CASES } from "./cases";
import { clearRequests, lastRequest, startProviderWorld, type ProviderWorld } from "./support";

let world: ProviderWorld;
beforeAll(async () => {
  world = await startProviderWorld();
});
afterAll(() => world.stop());
beforeEach(() => clearRequests(world.fakes));

const IMAGE_DATA_URL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==";
const IMAGE_HTTPS_URL = "https://example.com/parrot.jpg";

describe.each(CASES)("$provider ($model)", (c) => {
  test("text: the upstream's answer, and headers and body saying who served it", async () => {
    c.answer(world.fakes, "Polly wants a cracker.");
    const { data, response } = await world.client.chat.completions.create({ model: c.model, messages: [{ role: "user", content: "Hi" }] }).withResponse();
    expect(data.choices[0]!.message.content).toBe("Polly wants a cracker.");
    expect(data.choices[0]!.finish_reason).toBe("stop");
    expect(response.headers.get("x-parrotrouter-provider")).toBe(c.provider);
    expect(response.headers.get("x-parrotrouter-model")).toBe(c.route);
    expect(data.model).toBe(c.reported);
  });

  test("streaming: chunks arrive in order and join to the text; usage comes when asked", async () => {
    c.stream(world.fakes, ["Squawk", ", ", "squawk", "!"]);
    const stream = await world.client.chat.completions.create({
      model: c.model,
      messages: [{ role: "user", content: "Hi" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let finish: string | null = null;
    let usage: unknown = null;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("Squawk, squawk!");
    expect(finish).toBe("stop");
    expect(usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
  });

  test("images: a data URL and an https URL both reach the upstream in its own format", async () => {
    c.answer(world.fakes, "Two parrots.");
    const completion = await world.client.chat.completions.create({
      model: c.model,
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "What is in these?" },
            { type: "image_url", image_url: { url: IMAGE_DATA_URL } },
            { type: "image_url", image_url: { url: IMAGE_HTTPS_URL } },
          ],
        },
      ],
    });
    expect(completion.choices[0]!.message.content).toBe("Two parrots.");
    const sent = lastRequest(world.fakes[c.provider]).body;
    // The fakes reject malformed image parts, so an answer means the shape was accepted.
    if (c.provider === "anthropic") {
      expect(sent.messages[0].content.slice(1)).toEqual([
        { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgoAAAANSUhEUg==" } },
        { type: "image", source: { type: "url", url: IMAGE_HTTPS_URL } },
      ]);
    } else if (c.provider === "gemini") {
      expect(sent.contents[0].parts.slice(1)).toEqual([
        { inlineData: { mimeType: "image/png", data: "iVBORw0KGgoAAAANSUhEUg==" } },
        { fileData: { mimeType: "image/jpeg", fileUri: IMAGE_HTTPS_URL } },
      ]);
    } else {
      expect(sent.messages[0].content[1]).toEqual({ type: "image_url", image_url: { url: IMAGE_DATA_URL } });
      expect(sent.messages[0].content[2]).toEqual({ type: "image_url", image_url: { url: IMAGE_HTTPS_URL } });
    }
  });

  test("JSON mode: the upstream is told in its own terms and the answer parses", async () => {
    c.answer(world.fakes, '{"species":"macaw","count":2}');
    const completion = await world.client.chat.completions.create({
      model: c.model,
      messages: [{ role: "user", content: "Describe the parrots as JSON." }],
      response_format: { type: "json_object" },
    });
    expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({ species: "macaw", count: 2 });
    const sent = lastRequest(world.fakes[c.provider]).body;
    if (c.provider === "anthropic") expect(sent.system).toContain("JSON");
    else if (c.provider === "gemini") expect(sent.generationConfig.responseMimeType).toBe("application/json");
    else expect(sent.response_format).toEqual({ type: "json_object" });
  });
});
