/** A rough token count (about 4 characters a token, plus a little per message) — no tokenizer needed. */
export function approximateTokens(text: string): number {
  return Math.ceil(text.length / 4) + 4;
}
