// A full tool-call round trip through the server with the openai SDK, for every upstream:
// the model asks for a tool, the client sends the tool's result, the model answers.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import type OpenAI from "openai";
import { CASES, STREAM_TOOL_CASES } from "./cases";
import { clearRequests, lastRequest, startProviderWorld, type ProviderWorld } from "./support";

let world: ProviderWorld;
beforeAll(async () => {
  world = await startProviderWorld();
});
afterAll(() => world.stop());
beforeEach(() => clearRequests(world.fakes));

const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather in a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
  },
];
const question: OpenAI.Chat.Completions.ChatCompletionMessageParam = { role: "user", content: "Weather in Lima?" };

describe.each(CASES)("$provider ($model)", (c) => {
  test("tool_calls → the client sends the result → the final answer", async () => {
    c.toolCall(world.fakes, "get_weather", { city: "Lima" });
    const first = await world.client.chat.completions.create({ model: c.model, messages: [question], tools });
    const asked = first.choices[0]!;
    expect(asked.finish_reason).toBe("tool_calls");
    const call = asked.message.tool_calls![0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    expect(call.type).toBe("function");
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Lima" });
    expect(call.id).toBeString();

    c.answer(world.fakes, "Sunny, 22 °C in Lima.");
    const final = await world.client.chat.completions.create({
      model: c.model,
      tools,
      // The assistant message goes back exactly as the SDK returned it, as clients do.
      messages: [question, asked.message, { role: "tool", tool_call_id: call.id, content: '{"temp_c":22,"sky":"sunny"}' }],
    });
    expect(final.choices[0]!.message.content).toBe("Sunny, 22 °C in Lima.");

    // The second upstream request carries call and result in the upstream's own terms (the
    // fakes reject unpaired calls and results, as the real APIs do).
    const sent = lastRequest(world.fakes[c.provider]).body;
    if (c.provider === "anthropic") {
      expect(sent.messages[1].content).toEqual([{ type: "tool_use", id: call.id, name: "get_weather", input: { city: "Lima" } }]);
      expect(sent.messages[2].content).toEqual([{ type: "tool_result", tool_use_id: call.id, content: '{"temp_c":22,"sky":"sunny"}' }]);
    } else if (c.provider === "gemini") {
      expect(sent.contents[1].parts[0].functionCall).toEqual({ name: "get_weather", args: { city: "Lima" } });
      expect(sent.contents[2].parts).toEqual([{ functionResponse: { name: "get_weather", response: { temp_c: 22, sky: "sunny" } } }]);
    } else {
      expect(sent.messages[1].tool_calls[0]).toMatchObject({ id: call.id, function: { name: "get_weather" } });
      expect(sent.messages[2]).toEqual({ role: "tool", tool_call_id: call.id, content: '{"temp_c":22,"sky":"sunny"}' });
    }
  });
});

describe.each(STREAM_TOOL_CASES)("$provider streamed tool calls", (c) => {
  test("the SDK's stream helper assembles the call from the chunks", async () => {
    c.streamToolCall!(world.fakes, "get_weather", { city: "Lima", units: "metric" });
    const runner = world.client.chat.completions.stream({ model: c.model, messages: [question], tools });
    const completion = await runner.finalChatCompletion();
    const call = completion.choices[0]!.message.tool_calls![0]! as OpenAI.Chat.Completions.ChatCompletionMessageFunctionToolCall;
    expect(completion.choices[0]!.finish_reason).toBe("tool_calls");
    expect(call.function.name).toBe("get_weather");
    expect(JSON.parse(call.function.arguments)).toEqual({ city: "Lima", units: "metric" });
    expect(call.id).toBeString();
  });
});
