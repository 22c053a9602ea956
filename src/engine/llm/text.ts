// How the engine writes for a model: the token estimate its prompts are budgeted with, code in
// fences that its content cannot close, and numbers and one-liners short enough to read.

/** The estimate every prompt budget uses: about four characters a token. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** `text` in a fence longer than any run of backticks inside it, so the text cannot end it early. */
export function fenced(text: string, lang: string): string {
  const fence = '`'.repeat(Math.max(3, longestBacktickRun(text) + 1));
  return `${fence}${lang}\n${text.endsWith('\n') ? text : `${text}\n`}${fence}`;
}

export function longestBacktickRun(text: string): number {
  let longest = 0;
  for (const run of text.match(/`+/g) ?? []) longest = Math.max(longest, run.length);
  return longest;
}

/** A single line of at most `max` characters. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1).trimEnd()}…`;
}

/** Six significant digits, without exponent noise for ordinary values. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return String(Number(x.toPrecision(6)));
}

export function signed(x: number): string {
  return x > 0 ? `+${num(x)}` : num(x);
}
