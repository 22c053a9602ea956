// Just enough of Python's lexical structure for the static audit: tokens that tell code from
// comments and strings, f-strings split into text and fields, logical lines and statements, and
// small readers of expressions over tokens. The engine has no Python parser; this is not one.

export interface Token {
  kind: 'name' | 'number' | 'string' | 'op';
  text: string;
  /** 1-based lines of the token's first and last character. */
  line: number;
  endLine: number;
  /** 0-based column of the first character. */
  col: number;
  /** Whitespace separates it from the previous token on the same line. */
  spaced: boolean;
  str?: StringLiteral;
}

export interface StringLiteral {
  /** Lower-case prefix: '', 'r', 'b', 'f', 'rb', 'fr'... */
  prefix: string;
  /** The text between the quotes, escapes as written. */
  body: string;
  f: boolean;
  /** An f-string's literal text and replacement fields in order; one text part otherwise. */
  parts: StringPart[];
  /** A triple-quoted string still open at the end of the text. */
  unterminated?: boolean;
}

export type StringPart =
  | { kind: 'text'; text: string; line: number }
  | { kind: 'field'; expr: string; line: number; conversion?: string; spec?: string; debug: boolean };

export interface Lexed {
  /** Tokens cut into logical lines (brackets and backslashes join physical lines). */
  lines: Token[][];
  /** Column where a comment starts, by line. */
  commentCol: Map<number, number>;
}

const KEYWORDS = new Set(
  ('False None True and as assert async await break class continue def del elif else except finally for from ' +
    'global if import in is lambda nonlocal not or pass raise return try while with yield').split(' '),
);
export const isKeyword = (s: string) => KEYWORDS.has(s);

const STRING_PREFIXES = new Set(['r', 'u', 'b', 'br', 'rb', 'f', 'fr', 'rf', 't', 'tr', 'rt']);
const OPERATORS = [
  '**=', '//=', '>>=', '<<=', '...', '->', ':=', '**', '//', '>>', '<<', '<=', '>=', '==', '!=',
  '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '@=',
];
const NAME = /[A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*/y;
const NUMBER = /(?:0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][-+]?\d[\d_]*)?[jJ]?)/y;

export function tokenize(src: string, firstLine = 1): Lexed {
  const lineStarts = [0];
  for (let i = 0; i < src.length; i++) if (src[i] === '\n') lineStarts.push(i + 1);
  const lineAt = (offset: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + firstLine;
  };
  const colAt = (offset: number) => offset - lineStarts[lineAt(offset) - firstLine]!;

  const lines: Token[][] = [];
  const commentCol = new Map<number, number>();
  let cur: Token[] = [];
  let depth = 0;
  let spaced = false;
  const push = (kind: Token['kind'], start: number, end: number, str?: StringLiteral) => {
    cur.push({ kind, text: src.slice(start, end), line: lineAt(start), endLine: lineAt(Math.max(start, end - 1)), col: colAt(start), spaced, str });
    spaced = false;
  };
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n' || c === '\r') {
      if (depth === 0 && cur.length) {
        lines.push(cur);
        cur = [];
      }
      spaced = false;
      i++;
      continue;
    }
    if (c === '\\' && (src[i + 1] === '\n' || src[i + 1] === '\r')) {
      i += src.startsWith('\r\n', i + 1) ? 3 : 2;
      spaced = true;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\f') {
      spaced = true;
      i++;
      continue;
    }
    if (c === '#') {
      commentCol.set(lineAt(i), colAt(i));
      while (i < src.length && src[i] !== '\n' && src[i] !== '\r') i++;
      continue;
    }
    NAME.lastIndex = i;
    const name = NAME.exec(src);
    if (name) {
      const word = name[0];
      const next = src[i + word.length];
      if ((next === '"' || next === "'") && STRING_PREFIXES.has(word.toLowerCase())) {
        const s = scanString(src, i + word.length, word.toLowerCase(), lineAt);
        push('string', i, s.end, s.literal);
        i = s.end;
      } else {
        push('name', i, i + word.length);
        i += word.length;
      }
      continue;
    }
    if (c === '"' || c === "'") {
      const s = scanString(src, i, '', lineAt);
      push('string', i, s.end, s.literal);
      i = s.end;
      continue;
    }
    if (/\d/.test(c) || (c === '.' && /\d/.test(src[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      const end = i + (NUMBER.exec(src)?.[0].length || 1);
      push('number', i, end);
      i = end;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i)) ?? c;
    if ('([{'.includes(op)) depth++;
    else if (')]}'.includes(op)) depth = Math.max(0, depth - 1);
    push('op', i, i + op.length);
    i += op.length;
  }
  if (cur.length) lines.push(cur);
  return { lines, commentCol };
}

/** Scans a string literal whose opening quote is at `q`; f-strings are split into parts. */
function scanString(src: string, q: number, prefix: string, lineAt: (o: number) => number): { end: number; literal: StringLiteral } {
  const quote = src[q]!;
  const delim = src.startsWith(quote.repeat(3), q) ? quote.repeat(3) : quote;
  const triple = delim.length === 3;
  const f = /[ft]/.test(prefix);
  const parts: StringPart[] = [];
  let text = '';
  let textStart = q + delim.length;
  const endText = () => {
    if (text) parts.push({ kind: 'text', text, line: lineAt(textStart) });
    text = '';
  };
  let i = q + delim.length;
  let end = src.length;
  let bodyEnd = src.length;
  while (i < src.length) {
    if (src.startsWith(delim, i)) {
      bodyEnd = i;
      end = i + delim.length;
      break;
    }
    const c = src[i]!;
    if (!triple && (c === '\n' || c === '\r')) {
      bodyEnd = end = i; // unterminated: stop at the end of the line
      break;
    }
    if (c === '\\' && !(f && (src[i + 1] === '{' || src[i + 1] === '}'))) {
      text += src.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (f && (c === '{' || c === '}') && src[i + 1] === c) {
      text += c;
      i += 2;
      continue;
    }
    if (f && c === '{') {
      endText();
      const field = scanField(src, i + 1, triple, lineAt);
      parts.push(field.part);
      i = field.end;
      textStart = i;
      continue;
    }
    text += c;
    i++;
  }
  endText();
  const body = src.slice(q + delim.length, bodyEnd);
  const unterminated = triple && bodyEnd === src.length ? true : undefined;
  if (!f) return { end, literal: { prefix, body, f, parts: [{ kind: 'text', text: body, line: lineAt(q) }], unterminated } };
  return { end, literal: { prefix, body, f, parts, unterminated } };
}

/** An f-string replacement field starting after its `{`; `end` is past its closing `}`. */
function scanField(src: string, start: number, triple: boolean, lineAt: (o: number) => number): { end: number; part: StringPart } {
  let depth = 0;
  let exprEnd = -1;
  let conversion: string | undefined;
  let spec: string | undefined;
  let debug = false;
  let i = start;
  /** The field's text ends at `close`; scanning resumes at `end`. */
  const finish = (close: number, end = close + 1) => {
    const expr = src.slice(start, exprEnd < 0 ? close : exprEnd);
    return { end: Math.min(end, src.length), part: { kind: 'field' as const, expr, line: lineAt(start), conversion, spec, debug } };
  };
  while (i < src.length) {
    const c = src[i]!;
    if (!triple && (c === '\n' || c === '\r')) return finish(i, i);
    if (c === '"' || c === "'") {
      i = scanString(src, i, '', lineAt).end;
      continue;
    }
    if ('([{'.includes(c)) depth++;
    else if (c === ')' || c === ']') depth = Math.max(0, depth - 1);
    else if (c === '}') {
      if (depth === 0) return finish(i);
      depth--;
    } else if (depth === 0 && c === '!' && src[i + 1] !== '=') {
      exprEnd = i;
      let j = i + 1;
      while (j < src.length && !':}'.includes(src[j]!)) j++;
      conversion = src.slice(i + 1, j);
      i = j;
      continue;
    } else if (depth === 0 && c === ':') {
      if (exprEnd < 0) exprEnd = i;
      let j = i + 1;
      let d = 0;
      while (j < src.length && !(src[j] === '}' && d === 0)) {
        if (src[j] === '{') d++;
        else if (src[j] === '}') d--;
        else if (!triple && src[j] === '\n') break;
        j++;
      }
      spec = src.slice(i + 1, j);
      return src[j] === '}' ? finish(j) : finish(j, j);
    } else if (depth === 0 && c === '=' && !'=!<>'.includes(src[i - 1] ?? '') && src[i + 1] !== '=') {
      const rest = src.slice(i + 1).match(/^\s*([!:}])/);
      if (rest) {
        debug = true;
        exprEnd = i;
      }
    }
    i++;
  }
  return finish(src.length);
}

// ---------------------------------------------------------------------------------------------
// Statements

const COMPOUND = new Set(['if', 'elif', 'else', 'for', 'while', 'with', 'try', 'except', 'finally', 'def', 'class', 'async']);

/** A logical line cut into simple statements: at `;`, and after a compound statement's header. */
export function statementsOf(line: readonly Token[]): Token[][] {
  const out: Token[][] = [];
  for (const piece of splitTop(line, (t) => t.text === ';')) {
    let rest = piece;
    while (rest.length && COMPOUND.has(rest[0]!.text) && rest[0]!.kind === 'name') {
      const colon = indexTop(rest, (t) => t.text === ':');
      if (colon < 0) break;
      out.push(rest.slice(0, colon));
      rest = rest.slice(colon + 1);
    }
    if (rest.length) out.push(rest);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Readers over tokens

const OPENERS: Record<string, string> = { '(': ')', '[': ']', '{': '}' };

export const isOp = (t: Token | undefined, ...texts: string[]) => t?.kind === 'op' && texts.includes(t.text);
export const isName = (t: Token | undefined, text?: string) =>
  t?.kind === 'name' && !isKeyword(t.text) && (text === undefined || t.text === text);

/** Index of the bracket closing the one at `i` (the last index when unbalanced). */
export function closing(tokens: readonly Token[], i: number): number {
  let depth = 0;
  for (let j = i; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (t.kind !== 'op') continue;
    if (t.text in OPENERS) depth++;
    else if (')]}'.includes(t.text) && --depth === 0) return j;
  }
  return tokens.length - 1;
}

/** First index at bracket depth 0 where `test` holds, or -1. */
export function indexTop(tokens: readonly Token[], test: (t: Token, i: number) => boolean, from = 0): number {
  let depth = 0;
  for (let j = from; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (depth === 0 && test(t, j)) return j;
    if (t.kind !== 'op') continue;
    if (t.text in OPENERS) depth++;
    else if (')]}'.includes(t.text)) depth = Math.max(0, depth - 1);
  }
  return -1;
}

/** Every index at bracket depth 0 where `test` holds. */
export function topIndices(tokens: readonly Token[], test: (t: Token) => boolean): number[] {
  const out: number[] = [];
  for (let at = indexTop(tokens, test); at >= 0; at = indexTop(tokens, test, at + 1)) out.push(at);
  return out;
}

/** Splits at the depth-0 tokens where `test` holds (the separators are dropped). */
export function splitTop(tokens: readonly Token[], test: (t: Token) => boolean): Token[][] {
  const out: Token[][] = [];
  let from = 0;
  for (;;) {
    const at = indexTop(tokens, test, from);
    if (at < 0) break;
    out.push(tokens.slice(from, at));
    from = at + 1;
  }
  out.push(tokens.slice(from));
  return out;
}

/** Drops brackets of one kind that wrap the whole of `tokens`. */
export function unwrap(tokens: readonly Token[], brackets = '('): readonly Token[] {
  let t = tokens;
  while (t.length >= 2 && isOp(t[0], ...brackets) && closing(t, 0) === t.length - 1) t = t.slice(1, -1);
  return t;
}

export type ChainPart = { kind: 'attr'; name: string; at: number } | { kind: 'call' | 'sub'; inner: Token[]; at: number };

/** A name followed by attributes, calls and subscripts: `a.b(c)[d].e`. */
export interface Chain {
  root: string;
  parts: ChainPart[];
  /** Index past the chain. */
  end: number;
}

export function chainAt(tokens: readonly Token[], i: number): Chain | undefined {
  if (!isName(tokens[i])) return undefined;
  const parts: ChainPart[] = [];
  let j = i + 1;
  for (;;) {
    const t = tokens[j];
    if (isOp(t, '.') && isName(tokens[j + 1])) {
      parts.push({ kind: 'attr', name: tokens[j + 1]!.text, at: j + 1 });
      j += 2;
    } else if (isOp(t, '(', '[')) {
      const close = closing(tokens, j);
      parts.push({ kind: t!.text === '(' ? 'call' : 'sub', inner: tokens.slice(j + 1, close), at: j });
      j = close + 1;
    } else break;
  }
  return { root: tokens[i]!.text, parts, end: j };
}

/** The leading dotted name of a chain: `a.b.c` of `a.b.c[0].d`. */
export function dottedPrefix(chain: Chain): string[] {
  const names = [chain.root];
  for (const p of chain.parts) {
    if (p.kind !== 'attr') break;
    names.push(p.name);
  }
  return names;
}

/** A canonical text of an expression, for comparing two of them. */
export function normalize(tokens: readonly Token[]): string {
  let out = '';
  let prev: Token | undefined;
  for (const t of tokens) {
    const wordy = (x: Token) => x.kind === 'name' || x.kind === 'number';
    if (prev && wordy(prev) && wordy(t)) out += ' ';
    out += t.kind === 'string' && t.str && !t.str.f ? `"${t.str.body.replace(/"/g, '\\"')}"` : t.text;
    prev = t;
  }
  return out;
}

/** The tokens of a primary expression starting at `i` (atom and trailers); `end` is past it. */
export function primaryAt(tokens: readonly Token[], i: number): { tokens: Token[]; end: number } {
  let j = i;
  while (isOp(tokens[j], '-', '+', '~')) j++;
  const t = tokens[j];
  if (!t) return { tokens: [], end: j };
  if (isOp(t, '(', '[', '{')) j = closing(tokens, j) + 1;
  else if (t.kind === 'string') while (tokens[j]?.kind === 'string') j++;
  else j++;
  for (;;) {
    if (isOp(tokens[j], '.') && tokens[j + 1]?.kind === 'name') j += 2;
    else if (isOp(tokens[j], '(', '[')) j = closing(tokens, j) + 1;
    else break;
  }
  return { tokens: tokens.slice(i, j), end: j };
}

/** Targets of an assignment statement (`a = b = rhs`, `a, b = rhs`, `a: T = rhs`) and its value. */
export function assignment(tokens: readonly Token[]): { targets: Token[][]; value: Token[] } | undefined {
  const parts = splitTop(tokens, (t) => isOp(t, '='));
  if (parts.length < 2) return undefined;
  const targets = parts.slice(0, -1).flatMap((p) => {
    const colon = indexTop(p, (t) => isOp(t, ':'));
    return splitTop(unwrap(colon < 0 ? p : p.slice(0, colon), '(['), (t) => t.text === ',').filter((x) => x.length);
  });
  return { targets, value: parts[parts.length - 1]! };
}

/** The text of an assignment target that is a name, attribute or subscript; undefined otherwise. */
export function targetText(tokens: readonly Token[]): string | undefined {
  const chain = chainAt(tokens, 0);
  return chain && chain.end === tokens.length && chain.parts.every((p) => p.kind !== 'call') ? normalize(tokens) : undefined;
}

/** A token sequence as text with its original spacing; strings verbatim or masked as `""`. */
export interface Rendered {
  text: string;
  /** The line of the character at `offset`. */
  lineAt(offset: number): number;
}

export function render(tokens: readonly Token[], mode: 'raw' | 'masked'): Rendered {
  let text = '';
  const starts: number[] = [];
  let prev: Token | undefined;
  for (const t of tokens) {
    if (prev) text += t.line > prev.endLine ? '\n' : t.spaced ? ' ' : '';
    starts.push(text.length);
    text += mode === 'masked' && t.kind === 'string' ? '""' : t.text;
    prev = t;
  }
  return {
    text,
    lineAt(offset) {
      let k = 0;
      while (k + 1 < starts.length && starts[k + 1]! <= offset) k++;
      const t = tokens[k];
      if (!t) return 0;
      if (mode === 'masked' || t.kind !== 'string') return t.line;
      return Math.min(t.endLine, t.line + (t.text.slice(0, Math.max(0, offset - starts[k]!)).match(/\n/g)?.length ?? 0));
    },
  };
}
