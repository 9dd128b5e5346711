// Token estimates for holds and for streams that end without a usage report. Deliberately
// simple (about four characters a token, as OpenAI's rule of thumb): holds only need an
// upper-ish bound, and real charges come from the upstream's own counts.

/** Tokens a piece of text is likely to take. */
export function estimateTextTokens(text: string): number {
  return text.length === 0 ? 0 : Math.ceil(text.length / 4);
}

/** Tokens an image part costs at most in OpenAI's accounting (a high-detail tile grid). */
const IMAGE_TOKENS = 765;
/** Per-message framing OpenAI adds around each message. */
const MESSAGE_OVERHEAD_TOKENS = 4;

/** Estimates the prompt tokens of an OpenAI chat request's messages (and tools). */
export function estimatePromptTokens(body: Record<string, unknown>): number {
  let tokens = 3;
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (const message of messages) {
    tokens += MESSAGE_OVERHEAD_TOKENS;
    if (!message || typeof message !== "object") continue;
    const content = (message as { content?: unknown }).content;
    tokens += estimateContentTokens(content);
    const rest = { ...(message as Record<string, unknown>), content: undefined };
    tokens += estimateTextTokens(JSON.stringify(rest)) - 3;
  }
  if (body.tools !== undefined) tokens += estimateTextTokens(JSON.stringify(body.tools));
  return Math.max(tokens, 1);
}

function estimateContentTokens(content: unknown): number {
  if (typeof content === "string") return estimateTextTokens(content);
  if (!Array.isArray(content)) return 0;
  let tokens = 0;
  for (const part of content) {
    if (!part || typeof part !== "object") continue;
    const typed = part as { type?: unknown; text?: unknown };
    if (typed.type === "text" && typeof typed.text === "string") tokens += estimateTextTokens(typed.text);
    else if (typed.type === "image_url" || typed.type === "input_image") tokens += IMAGE_TOKENS;
    else tokens += estimateTextTokens(JSON.stringify(part));
  }
  return tokens;
}

/** Estimates the tokens of an embeddings request's `input` (string, strings, or token arrays). */
export function estimateEmbeddingTokens(input: unknown): number {
  if (typeof input === "string") return Math.max(estimateTextTokens(input), 1);
  if (Array.isArray(input)) {
    let tokens = 0;
    for (const item of input) {
      if (typeof item === "number") tokens += 1;
      else if (Array.isArray(item)) tokens += item.length;
      else tokens += estimateTextTokens(String(item));
    }
    return Math.max(tokens, 1);
  }
  return 1;
}
