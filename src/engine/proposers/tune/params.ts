// Finds the numeric hyper-parameters of a Python file and rewrites their values in place.
// A light scanner, not a parser: it knows where strings, comments and brackets are, and
// recognises the few shapes a knob is usually written in. Everything else stays byte-identical.

export type ParamKind = 'int' | 'float';

/** How the knob is written: `LR = 3e-4`, `add_argument('--lr', default=3e-4)`,
 *  `{'lr': 3e-4}`, `dict(lr=3e-4)` / `Config(lr=3e-4)`, or a class field `lr: float = 3e-4`. */
export type ParamSource = 'constant' | 'argparse' | 'dict' | 'kwarg' | 'field';

export interface Param {
  /** Unique among the files searched; the key of `meta.params`. */
  name: string;
  /** Repo-relative path of the file. */
  file: string;
  source: ParamSource;
  /** The literal's span in the file's text, `[start, end)` (the minus sign included). */
  start: number;
  end: number;
  /** The literal as written. */
  text: string;
  value: number;
  kind: ParamKind;
}

// A Python int or float literal, optionally negative, with `_` digit separators.
const DIGITS = String.raw`\d(?:_?\d)*`;
const NUMBER = String.raw`-?(?:${DIGITS}(?:\.(?:${DIGITS})?)?|\.${DIGITS})(?:[eE][+-]?${DIGITS})?`;
/** A number that is the whole value: not part of `1j`, `0x1f`, `3.real`, `2 * x`. */
const NUMBER_END = String.raw`(?![\w.])`;

// Words that mark a number as something other than a knob: identity, plumbing, the evaluation's
// own budget (changing it would game the metric), and on/off switches.
const SKIP_WORDS = new Set([
  'seed', 'version', 'port', 'debug', 'verbose', 'verbosity', 'log', 'logging', 'print', 'rank',
  'world', 'workers', 'device', 'devices', 'gpu', 'gpus', 'cuda', 'budget', 'timeout', 'eval',
  'save', 'checkpoint', 'ckpt', 'id', 'pid', 'wandb', 'profile', 'flag',
]);
const SWITCH_PREFIXES = new Set(['use', 'enable', 'disable', 'is', 'has', 'do', 'no', 'with']);

/** A comment that says the numbers it governs are not to be tuned. */
const NOT_A_KNOB = /\bnot\s+(?:a\s+)?knobs?\b|\bdo\s*n[o']t\s+(?:tune|change|edit)\b|\bratchet:\s*(?:fixed|ignore)\b/i;

/** Words of a name: `LEARNING_RATE` → learning, rate; `warmupSteps` → warmup, steps. */
export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

export function isSkippedName(name: string): boolean {
  const words = nameWords(name);
  if (words.length === 0) return true;
  if (SWITCH_PREFIXES.has(words[0]!) && words.length > 1) return true;
  return words.some((w) => SKIP_WORDS.has(w));
}

/** Where code is: strings and comments are masked, bracket depth is known at every offset. */
interface Scan {
  /** 1 where the character is inside a string or a comment. */
  masked: Uint8Array;
  /** Bracket depth at each offset (outside strings and comments). */
  depth: Int32Array;
  strings: { start: number; end: number }[];
  comments: { start: number; end: number }[];
}

function scan(src: string): Scan {
  const n = src.length;
  const masked = new Uint8Array(n);
  const depth = new Int32Array(n + 1);
  const strings: Scan['strings'] = [];
  const comments: Scan['comments'] = [];
  let d = 0;
  let i = 0;
  while (i < n) {
    const c = src[i]!;
    depth[i] = d;
    if (c === '#') {
      const start = i;
      while (i < n && src[i] !== '\n') {
        masked[i] = 1;
        depth[i] = d;
        i++;
      }
      comments.push({ start, end: i });
      continue;
    }
    if (c === '"' || c === "'") {
      const start = i;
      const triple = src.startsWith(c.repeat(3), i);
      const close = triple ? c.repeat(3) : c;
      i += close.length;
      while (i < n) {
        if (src[i] === '\\') {
          i += 2;
          continue;
        }
        if (src.startsWith(close, i)) {
          i += close.length;
          break;
        }
        if (!triple && src[i] === '\n') break; // unterminated: stop at the line's end
        i++;
      }
      i = Math.min(i, n);
      for (let k = start; k < i; k++) {
        masked[k] = 1;
        depth[k] = d;
      }
      strings.push({ start, end: i });
      continue;
    }
    if (c === '(' || c === '[' || c === '{') d++;
    else if (c === ')' || c === ']' || c === '}') d = Math.max(0, d - 1);
    i++;
  }
  depth[n] = d;
  return { masked, depth, strings, comments };
}

interface Found {
  name: string;
  source: ParamSource;
  start: number;
  end: number;
  forceKind?: ParamKind;
}

/** The numeric hyper-parameters of one Python file, in the order they appear. Names are unique
 *  within the file (a repeated name gets `#2`, `#3`…); see `findParamsInFiles` for several files. */
export function findParams(file: string, src: string): Param[] {
  const sc = scan(src);
  const found: Found[] = [];
  const isCode = (at: number): boolean => at < src.length && sc.masked[at] === 0;

  // Lines governed by a "not a knob" comment: the comment's own line, or the block of
  // non-blank lines that a standalone comment heads.
  const skippedLines = new Set<number>();
  const lineStarts = [0];
  for (let k = 0; k < src.length; k++) if (src[k] === '\n') lineStarts.push(k + 1);
  const lineOf = (at: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const lineText = (line: number): string =>
    src.slice(lineStarts[line]!, line + 1 < lineStarts.length ? lineStarts[line + 1]! - 1 : src.length);
  for (const cm of sc.comments) {
    if (!NOT_A_KNOB.test(src.slice(cm.start, cm.end))) continue;
    const line = lineOf(cm.start);
    skippedLines.add(line);
    if (lineText(line).trimStart().startsWith('#')) {
      for (let l = line + 1; l < lineStarts.length && lineText(l).trim() !== ''; l++) skippedLines.add(l);
    }
  }

  // Module-level constants and class fields: one assignment per line, the number its whole value.
  const assignment = new RegExp(
    String.raw`^([ \t]*)([A-Za-z_]\w*)[ \t]*(?::[ \t]*([A-Za-z_][\w.]*)[ \t]*)?=[ \t]*(${NUMBER})${NUMBER_END}([ \t]*(?:#.*)?)$`,
    'gm',
  );
  for (const m of src.matchAll(assignment)) {
    const lineStart = m.index;
    if (!isCode(lineStart + m[1]!.length) || sc.depth[lineStart]! !== 0) continue;
    const [, indent, name, annotation, literal, trailing] = m as unknown as [
      string, string, string, string | undefined, string, string,
    ];
    const start = lineStart + m[0].length - trailing.length - literal.length;
    if (indent.length === 0) {
      if (!/^[A-Z][A-Z0-9_]*$/.test(name)) continue;
      if (annotation !== undefined && annotation !== 'int' && annotation !== 'float') continue;
      found.push({ name, source: 'constant', start, end: start + literal.length, forceKind: kindOf(annotation) });
    } else if (annotation === 'int' || annotation === 'float') {
      found.push({ name, source: 'field', start, end: start + literal.length, forceKind: kindOf(annotation) });
    }
  }

  // Calls: argparse's add_argument, and keyword arguments of dict(...) or a config constructor.
  const call = /\b([A-Za-z_]\w*)\s*\(/g;
  for (const m of src.matchAll(call)) {
    const callee = m[1]!;
    const isArgparse = callee === 'add_argument';
    if (!isArgparse && !isConfigCallee(callee)) continue;
    if (!isCode(m.index)) continue;
    const open = m.index + m[0].length - 1;
    const close = matchingClose(src, sc, open);
    if (close < 0) continue;
    const inner = sc.depth[open + 1]!;
    if (isArgparse) {
      const arg = argparseParam(src, sc, open, close);
      if (arg) found.push({ ...arg, source: 'argparse' });
      continue;
    }
    const kwarg = new RegExp(String.raw`(?<![\w.])([A-Za-z_]\w*)\s*=\s*(${NUMBER})${NUMBER_END}(?=\s*(?:#[^\n]*\s*)?[,)])`, 'g');
    kwarg.lastIndex = open + 1;
    for (let k = kwarg.exec(src); k && k.index < close; k = kwarg.exec(src)) {
      if (!isCode(k.index) || sc.depth[k.index] !== inner || src[k.index - 1] === '=') continue;
      const start = k.index + k[0].length - k[2]!.length;
      found.push({ name: k[1]!, source: 'kwarg', start, end: start + k[2]!.length });
    }
  }

  // Dict entries: `'lr': 3e-4` after `{` or `,`.
  const entryTail = new RegExp(String.raw`^\s*:\s*(${NUMBER})${NUMBER_END}(?=\s*(?:#[^\n]*\s*)?[,}])`);
  for (const s of sc.strings) {
    const key = /^(['"])([A-Za-z_][\w.-]*)\1$/.exec(src.slice(s.start, s.end));
    if (!key) continue;
    let before = s.start - 1;
    while (before >= 0 && (/\s/.test(src[before]!) || sc.masked[before] === 1)) before--;
    if (before < 0 || (src[before] !== '{' && src[before] !== ',')) continue;
    const tail = entryTail.exec(src.slice(s.end, s.end + 200));
    if (!tail) continue;
    const start = s.end + tail[0].length - tail[1]!.length;
    found.push({ name: key[2]!, source: 'dict', start, end: start + tail[1]!.length });
  }

  found.sort((a, b) => a.start - b.start);
  const params: Param[] = [];
  const seenSpans = new Set<number>();
  const seenNames = new Map<string, number>();
  for (const f of found) {
    if (seenSpans.has(f.start) || !isCode(f.start)) continue;
    seenSpans.add(f.start);
    if (isSkippedName(f.name) || skippedLines.has(lineOf(f.start))) continue;
    const text = src.slice(f.start, f.end);
    const value = parseLiteral(text);
    if (!Number.isFinite(value)) continue;
    const count = (seenNames.get(f.name) ?? 0) + 1;
    seenNames.set(f.name, count);
    params.push({
      name: count === 1 ? f.name : `${f.name}#${count}`,
      file,
      source: f.source,
      start: f.start,
      end: f.end,
      text,
      value,
      kind: f.forceKind ?? (isIntLiteral(text) ? 'int' : 'float'),
    });
  }
  return params;
}

/** Params of several files; a name found in more than one file is qualified as `file:name`. */
export function findParamsInFiles(files: readonly { path: string; text: string }[]): Param[] {
  const all = files.flatMap((f) => findParams(f.path, f.text));
  const count = new Map<string, number>();
  for (const p of all) count.set(p.name, (count.get(p.name) ?? 0) + 1);
  return all.map((p) => (count.get(p.name)! > 1 ? { ...p, name: `${p.file}:${p.name}` } : p));
}

function kindOf(annotation: string | undefined): ParamKind | undefined {
  return annotation === 'int' ? 'int' : annotation === 'float' ? 'float' : undefined;
}

function isConfigCallee(name: string): boolean {
  return (
    name === 'dict' ||
    /(?:Config|Args|Params|HParams|Hparams|Options|Settings)$/.test(name) ||
    /^(?:SGD|Adam|AdamW|RMSprop|Adagrad|Adadelta|Adamax|NAdam|RAdam|Lion|Muon|Adafactor|LAMB)$/.test(name)
  );
}

function matchingClose(src: string, sc: Scan, open: number): number {
  const d = sc.depth[open]!;
  for (let k = open + 1; k < src.length; k++) {
    if (sc.masked[k] === 0 && src[k] === ')' && sc.depth[k + 1]! === d) return k;
  }
  return -1;
}

function argparseParam(src: string, sc: Scan, open: number, close: number): Omit<Found, 'source'> | null {
  const body = src.slice(open + 1, close + 1); // with the `)`, which ends the last argument
  const inner = sc.depth[open + 1]!;
  const topLevel = (re: RegExp): RegExpExecArray | null => {
    re.lastIndex = 0;
    for (let m = re.exec(body); m; m = re.exec(body)) {
      const at = open + 1 + m.index;
      if (sc.masked[at] === 0 && sc.depth[at] === inner) return m;
    }
    return null;
  };
  // Flags, choices and lists are not continuous knobs.
  if (topLevel(/\b(?:action|choices|nargs)\s*=/g)) return null;
  const def = topLevel(new RegExp(String.raw`\bdefault\s*=\s*(${NUMBER})${NUMBER_END}(?=\s*(?:#[^\n]*\s*)?[,)])`, 'g'));
  if (!def) return null;
  const type = topLevel(/\btype\s*=\s*(int|float)\b/g);
  const dest = topLevel(/\bdest\s*=\s*(['"])([A-Za-z_]\w*)\1/g);
  let name = dest?.[2];
  if (!name) {
    const options = sc.strings
      .filter((s) => s.start > open && s.end <= close && sc.depth[s.start] === inner)
      .map((s) => /^(['"])(-{1,2}[A-Za-z][\w-]*)\1$/.exec(src.slice(s.start, s.end))?.[2])
      .filter((o): o is string => o !== undefined);
    const option = options.find((o) => o.startsWith('--')) ?? options[0];
    if (!option) return null;
    name = option.replace(/^-+/, '').replace(/-/g, '_');
  }
  const start = open + 1 + def.index + def[0].length - def[1]!.length;
  return { name, start, end: start + def[1]!.length, forceKind: kindOf(type?.[1]) };
}

function isIntLiteral(text: string): boolean {
  return !/[.eE]/.test(text);
}

/** The value of a Python numeric literal (`60_000`, `-3e-4`, `.5`). */
export function parseLiteral(text: string): number {
  return Number(text.replace(/_/g, ''));
}

/** Writes a value the way a person would, in the style of the literal it replaces: ints without
 *  a decimal point (with `_` groups if the original had them), floats always with a `.` or an
 *  exponent so Python still reads a float, scientific notation for small or huge magnitudes or
 *  when the original was written that way. */
export function formatNumber(value: number, kind: ParamKind, original = ''): string {
  if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as a Python literal`);
  if (kind === 'int') {
    const v = Math.round(value);
    const digits = String(Math.abs(v));
    const grouped = original.includes('_') && digits.length > 4 ? digits.replace(/\B(?=(\d{3})+$)/g, '_') : digits;
    return (v < 0 ? '-' : '') + grouped;
  }
  if (value === 0) return '0.0';
  const [mantissa, expText] = value.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const originalExp = /[eE]([+-]?)(\d+)/.exec(original);
  // Python's own threshold, or the original's style where that reads naturally (5e-4, not 5e-1).
  const useSci = exp < -4 || exp >= 16 || (originalExp !== null && (exp <= -3 || exp >= 4));
  if (useSci) {
    const width = originalExp ? originalExp[2]!.length : 2;
    const plus = originalExp ? originalExp[1] === '+' : true;
    const sign = exp < 0 ? '-' : plus ? '+' : '';
    return `${mantissa}e${sign}${String(Math.abs(exp)).padStart(width, '0')}`;
  }
  const fixed = String(value);
  return /[.e]/.test(fixed) ? fixed : `${fixed}.0`;
}

/** The file with the given params' values replaced; every other byte unchanged. */
export function rewrite(src: string, params: readonly Param[], values: Readonly<Record<string, number>>): string {
  const edits = params
    .filter((p) => values[p.name] !== undefined && values[p.name] !== p.value)
    .sort((a, b) => b.start - a.start);
  let out = src;
  for (const p of edits) {
    if (src.slice(p.start, p.end) !== p.text) throw new Error(`param ${p.name} does not match its file`);
    out = out.slice(0, p.start) + formatNumber(values[p.name]!, p.kind, p.text) + out.slice(p.end);
  }
  return out;
}
