// How a script prints its metric: the metric's name starting a printed line, the value printed
// under it (f-strings, print arguments, `%` and `.format`, logging calls, JSON and dict keys,
// keyword arguments), and whether that value is a plain variable, a literal or an expression.
import { chainAt, closing, indexTop, isName, isOp, normalize, primaryAt, splitTop, tokenize, unwrap, type Token } from './python';

/** A value printed, logged or serialised under the metric's name. */
export interface Report {
  /** The label: the string or keyword that names the metric. */
  label: Token;
  /** The expression printed as the metric's value, when it can be told. */
  value?: Token[];
  /** The line the value is on. */
  line: number;
}

export const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Where the metric's name starts a printed line (as the run's output is read) in a string's
 * text; each result is the index just past the label. `atStart`: the text opens the string. */
export function labels(text: string, name: string, atStart: boolean): number[] {
  const re = new RegExp(`(^|\\\\[nr]|[\\n\\r])((?:[ \\t]|\\\\t)*)${escape(name)}(?![\\w])(\\s*[:=]|\\s*$)`, 'g');
  const out: number[] = [];
  for (const m of text.matchAll(re)) if (m[1] || atStart) out.push(m.index + m[0].length);
  return out;
}

const PERCENT = /%(?:\([^)]*\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?([diouxXeEfFgGcrsa%])/g;
const BRACES = /\{\{|\}\}|\{([^{}!:]*)(?:![rsa])?(?::[^{}]*(?:\{[^{}]*\}[^{}]*)*)?\}/g;

/** Index among `%` conversions of the first one at or after `from`. */
function percentIndex(text: string, from: number): number | undefined {
  let k = 0;
  for (const m of text.matchAll(PERCENT)) {
    if (m[1] === '%') continue;
    if (m.index >= from) return k;
    k++;
  }
  return undefined;
}

/** The `.format` field at or after `from`: its position among the arguments or its keyword. */
function braceField(text: string, from: number): number | string | undefined {
  let auto = 0;
  for (const m of text.matchAll(BRACES)) {
    if (m[1] === undefined) continue;
    const field = m[1].trim().split(/[.[]/)[0]!;
    const index = field === '' ? auto++ : /^\d+$/.test(field) ? Number(field) : field;
    if (m.index >= from) return index;
  }
  return undefined;
}

/** Arguments of the call whose `(` is at `open`: their token ranges, keyword ones named. */
function callArgs(tokens: readonly Token[], open: number): { from: number; to: number; keyword?: string }[] {
  const close = closing(tokens, open);
  const out: { from: number; to: number; keyword?: string }[] = [];
  let from = open + 1;
  for (;;) {
    const at = indexTop(tokens.slice(0, close), (t) => t.text === ',', from);
    const to = at < 0 ? close : at;
    if (to > from) {
      const keyword = isName(tokens[from]) && isOp(tokens[from + 1], '=') ? tokens[from]!.text : undefined;
      out.push({ from, to, keyword });
    }
    if (at < 0) break;
    from = at + 1;
  }
  return out;
}

/** The innermost bracket around index `i`. */
function enclosing(tokens: readonly Token[], i: number): number {
  let depth = 0;
  for (let j = i - 1; j >= 0; j--) {
    const t = tokens[j]!;
    if (t.kind !== 'op') continue;
    if (')]}'.includes(t.text)) depth++;
    else if ('([{'.includes(t.text)) {
      if (depth === 0) return j;
      depth--;
    }
  }
  return -1;
}

const isCall = (tokens: readonly Token[], open: number) =>
  isOp(tokens[open], '(') && open > 0 && (isName(tokens[open - 1]) || isOp(tokens[open - 1], ')', ']'));

function fieldTokens(expr: string, line: number): Token[] {
  return tokenize(expr).lines.flat().map((t) => ({ ...t, line, endLine: line }));
}

/** Every report of the metric `name` in a statement's tokens. */
export function reportsIn(tokens: readonly Token[], name: string): Report[] {
  const out: Report[] = [];
  const defining = tokens[0]?.text === 'def' || tokens.some((t) => t.text === 'lambda');
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    // A keyword argument named after the metric: `dict(val_bpb=x)`, `log(val_bpb=x)`.
    if (t.kind === 'name' && t.text === name && isOp(tokens[i + 1], '=') && !defining && isCall(tokens, enclosing(tokens, i))) {
      const open = enclosing(tokens, i);
      const arg = callArgs(tokens, open).find((a) => a.from === i);
      if (arg) out.push({ label: t, value: tokens.slice(i + 2, arg.to), line: tokens[i + 2]?.line ?? t.line });
      continue;
    }
    if (t.kind !== 'string' || tokens[i - 1]?.kind === 'string') continue;
    let k = i;
    while (tokens[k + 1]?.kind === 'string') k++;
    const group = tokens.slice(i, k + 1);
    if (group.some((s) => s.str!.f)) out.push(...fStringReports(group, name));
    else out.push(...plainStringReports(tokens, i, k, name));
    i = k;
  }
  return out;
}

function fStringReports(group: readonly Token[], name: string): Report[] {
  const out: Report[] = [];
  const parts = group.flatMap((s) => s.str!.parts.map((p) => ({ p, token: s })));
  parts.forEach(({ p, token }, n) => {
    if (p.kind === 'field') {
      // `f"{val_bpb=}"` prints `val_bpb=…`.
      if (p.debug && p.expr.trim() === name && n === 0) out.push({ label: token, value: fieldTokens(p.expr, p.line), line: p.line });
      return;
    }
    for (const at of labels(p.text, name, n === 0)) {
      const next = parts.slice(n + 1).find((x) => x.p.kind === 'field');
      const adjacent = /^(?:\s|\\t)*$/.test(p.text.slice(at));
      const value = adjacent && next?.p.kind === 'field' ? fieldTokens(next.p.expr, next.p.line) : undefined;
      out.push({ label: token, value, line: next?.p.line ?? p.line });
    }
  });
  return out;
}

function plainStringReports(tokens: readonly Token[], i: number, k: number, name: string): Report[] {
  const label = tokens[i]!;
  const text = tokens.slice(i, k + 1).map((s) => s.str!.body).join('');
  const ats = labels(text, name, true);
  if (!ats.length) return [];
  const at = ats[0]!;
  const report = (value: Token[] | undefined): Report[] => [{ label, value, line: value?.[0]?.line ?? label.line }];
  const after = tokens[k + 1];
  // "val_bpb: %.4f" % x
  if (isOp(after, '%')) {
    const operand = primaryAt(tokens, k + 2).tokens;
    const inner = unwrap(operand);
    const items = operand !== inner || isOp(operand[0], '(') ? splitTop(inner, (t) => t.text === ',').filter((x) => x.length) : [operand];
    const idx = percentIndex(text, at) ?? 0;
    return report(items.length > 1 ? items[idx] : items[0]);
  }
  // "val_bpb: {}".format(x)
  if (isOp(after, '.') && tokens[k + 2]?.text === 'format' && isOp(tokens[k + 3], '(')) {
    const field = braceField(text, at);
    const args = callArgs(tokens, k + 3);
    const arg = typeof field === 'string' ? args.find((a) => a.keyword === field) : args.filter((a) => !a.keyword)[field ?? 0];
    return report(arg && tokens.slice(arg.keyword ? arg.from + 2 : arg.from, arg.to));
  }
  // "val_bpb: " + str(x)
  if (isOp(after, '+')) return report(primaryAt(tokens, k + 2).tokens);
  const open = enclosing(tokens, i);
  // {"val_bpb": x}
  if (isOp(tokens[open], '{') && isOp(after, ':')) {
    const inner = tokens.slice(0, closing(tokens, open));
    const end = indexTop(inner, (t) => t.text === ',', k + 2);
    return report(inner.slice(k + 2, end < 0 ? inner.length : end));
  }
  // print("val_bpb:", x) and logger.info("val_bpb: %.4f", x)
  if (isCall(tokens, open) && isOp(after, ',')) {
    const args = callArgs(tokens, open);
    const me = args.findIndex((a) => a.from === i);
    const positional = args.slice(me + 1).filter((a) => !a.keyword);
    const arg = positional[percentIndex(text, at) ?? 0];
    if (me >= 0) return report(arg && tokens.slice(arg.from, arg.to));
  }
  return report(undefined);
}

const CONVERSIONS = new Set(['item', 'cpu', 'detach', 'tolist', 'float', 'double', 'numpy']);
/** Calls that print a variable as it is. */
export const WRAPPERS = new Set(['float', 'str', 'repr']);

/** A value printed through an f-string of one field, `f"{x:.4f}"`, is that field. */
function throughFString(tokens: readonly Token[]): readonly Token[] {
  const t = unwrap(tokens);
  const parts = t.length === 1 && t[0]!.str?.f ? t[0]!.str.parts : [];
  return parts.length === 1 && parts[0]!.kind === 'field' ? fieldTokens(parts[0]!.expr, parts[0]!.line) : tokens;
}

/** The variable a plain value reads (`val_bpb` of `float(val_bpb.item())`, `m["val_bpb"]`), or
 * undefined when the value is an expression: an operator or a call beyond a plain conversion. */
export function plainVariable(tokens: readonly Token[]): string | undefined {
  const t = unwrap(throughFString(tokens));
  if (t.length >= 3 && isName(t[0]) && WRAPPERS.has(t[0]!.text) && isOp(t[1], '(') && closing(t, 1) === t.length - 1) {
    const inner = t.slice(2, -1);
    return indexTop(inner, (x) => x.text === ',') < 0 ? plainVariable(inner) : undefined;
  }
  const chain = chainAt(t, 0);
  if (!chain || chain.end !== t.length) return undefined;
  let baseEnd = t.length;
  for (let n = 0; n < chain.parts.length; n++) {
    const p = chain.parts[n]!;
    const next = chain.parts[n + 1];
    if (p.kind === 'attr' && next?.kind === 'call' && CONVERSIONS.has(p.name) && next.inner.length === 0) {
      baseEnd = Math.min(baseEnd, p.at - 1);
      n++;
    } else if (baseEnd < t.length) return undefined;
    else if (p.kind === 'call') return undefined;
    else if (p.kind === 'sub') {
      const s = p.inner.filter((x) => !isOp(x, '-'));
      if (s.length !== 1 || !['number', 'string', 'name'].includes(s[0]!.kind)) return undefined;
    }
  }
  return normalize(t.slice(0, baseEnd));
}

export function isLiteral(tokens: readonly Token[]): boolean {
  let t = unwrap(throughFString(tokens));
  if (t.length >= 3 && isName(t[0], 'float') && isOp(t[1], '(') && closing(t, 1) === t.length - 1) t = t.slice(2, -1);
  if (isOp(t[0], '-', '+')) t = t.slice(1);
  if (t.length !== 1) return false;
  if (t[0]!.kind === 'number') return true;
  return t[0]!.kind === 'string' && !t[0]!.str!.f && /^\s*[-+]?\.?\d/.test(t[0]!.str!.body);
}
