// What every static check reads: the patch's added lines, and for each Python file the patch
// touches its statements after the patch (from the whole file when given, else from the hunks),
// with the lines each covers, its scope, and the names the file's imports bind.
import { parsePatch } from 'diff';
import type { AuditFinding, Task } from '../types';
import { chainAt, isName, isOp, render, splitTop, statementsOf, tokenize, type Rendered, type Token } from './python';

export interface AddedLine {
  file: string;
  /** 1-based line number in the new file. */
  line: number;
  text: string;
}

/** A logical line: physical lines joined by brackets or backslashes. */
export interface LogicalLine {
  tokens: Token[];
  /** Lines it covers, ascending. */
  lines: number[];
  /** Only bare strings: a docstring. */
  bare: boolean;
}

export interface Statement {
  tokens: Token[];
  /** The logical line it belongs to. */
  logical: LogicalLine;
  /** The function or class it runs in ('' for the module, '?' when the hunk does not show it). */
  scope: string;
  /** Lines it covers, ascending. */
  lines: number[];
  /** A bare string: a docstring or a no-op, never code. */
  bare: boolean;
}

export interface FileView {
  path: string;
  python: boolean;
  /** Statements come from the whole file, not only the patch's hunks. */
  whole: boolean;
  /** New-side statements (after the patch), in order. */
  statements: Statement[];
  /** Old-side statements of the hunks (before the patch), and the lines the patch removed. */
  old: Statement[];
  removed: Set<number>;
  added: Set<number>;
  /** The text of a line after the patch ('' when unknown). */
  text(line: number): string;
  /** The line without its comment, '' inside a docstring. */
  code(line: number): string;
  /** Names bound by import statements: local name → what it names (`np` → `numpy`). */
  imports: Map<string, string>;
  /** Names bound otherwise: assignments, parameters, loop and `with` targets, definitions. */
  bound: Set<string>;
}

export interface PatchContext {
  task: Task;
  added: AddedLine[];
  views: FileView[];
}

/** One family of static checks over a patch. */
export interface PatchCheck {
  readonly name: string;
  /** Checks whose finding on the same line makes this one's redundant. */
  readonly subsumedBy?: readonly string[];
  check(ctx: PatchContext): AuditFinding[];
}

export type FindingBase = Pick<AuditFinding, 'check' | 'severity' | 'message'>;

/** The run's metric is what it prints: no evaluation function captured, no kernel measured. */
export const isSelfReported = (task: Task) => !task.evaluate && !task.kernel;

interface Hunk {
  newStart: number;
  oldStart: number;
  lines: string[];
}

export function addedLines(patch: string): AddedLine[] {
  const out: AddedLine[] = [];
  for (const file of parsePatch(patch)) {
    const name = fileName(file.newFileName);
    for (const hunk of file.hunks) {
      let line = hunk.newStart;
      for (const l of hunk.lines) {
        if (l.startsWith('+')) out.push({ file: name, line: line++, text: l.slice(1) });
        else if (l.startsWith(' ')) line++;
      }
    }
  }
  return out;
}

const fileName = (name: string | undefined) => (name ?? '').replace(/^b\//, '');
const isPython = (path: string) => /\.pyi?$/.test(path);

export function buildContext(patch: string, task: Task, files?: Record<string, string>): PatchContext {
  const views: FileView[] = [];
  for (const file of parsePatch(patch)) {
    const path = fileName(file.newFileName);
    if (!path || path === '/dev/null') continue;
    views.push(fileView(path, file.hunks, files?.[path]));
  }
  return { task, added: addedLines(patch), views };
}

function fileView(path: string, hunks: readonly Hunk[], full: string | undefined): FileView {
  const added = new Set<number>();
  const removed = new Set<number>();
  const newText = new Map<number, string>();
  const newSegments: Segment[] = [];
  const oldSegments: Segment[] = [];
  for (const h of hunks) {
    const news: string[] = [];
    const olds: string[] = [];
    let n = h.newStart;
    let o = h.oldStart;
    for (const l of h.lines) {
      const body = l.slice(1);
      if (l.startsWith('+')) {
        added.add(n);
        newText.set(n++, body);
        news.push(body);
      } else if (l.startsWith('-')) {
        removed.add(o++);
        olds.push(body);
      } else if (l.startsWith(' ')) {
        newText.set(n++, body);
        o++;
        news.push(body);
        olds.push(body);
      }
    }
    newSegments.push({ first: h.newStart, text: news.join('\n') });
    oldSegments.push({ first: h.oldStart, text: olds.join('\n') });
  }
  // The whole file is used only when it agrees with the patch on every added line.
  const fullLines = full?.split(/\r?\n/);
  const whole = fullLines !== undefined && [...added].every((l) => fullLines[l - 1] === newText.get(l));
  const lineText = whole ? (l: number) => fullLines![l - 1] ?? '' : (l: number) => newText.get(l) ?? '';
  const python = isPython(path);
  const parsed = python ? lex(whole ? [{ first: 1, text: full! }] : newSegments, whole) : { statements: [], commentCol: new Map<number, number>() };
  const old = python ? lex(oldSegments, false).statements : [];
  const docLines = new Set<number>();
  for (const s of parsed.statements) if (s.bare) for (const l of s.lines) docLines.add(l);
  const { imports, bound } = bindings(parsed.statements);
  return {
    path,
    python,
    whole,
    statements: parsed.statements,
    old,
    removed,
    added,
    text: lineText,
    code(line) {
      if (docLines.has(line)) return '';
      const t = lineText(line);
      const col = parsed.commentCol.get(line);
      return (col === undefined ? t : t.slice(0, col)).trimEnd();
    },
    imports,
    bound,
  };
}

interface Segment {
  first: number;
  text: string;
}

function lex(segments: readonly Segment[], whole: boolean): { statements: Statement[]; commentCol: Map<number, number> } {
  const statements: Statement[] = [];
  const commentCol = new Map<number, number>();
  for (const seg of segments) {
    const lexed = whole ? tokenize(seg.text, seg.first) : tokenizeHunk(seg);
    for (const [l, c] of lexed.commentCol) commentCol.set(l, c);
    // Scope: the innermost `def` or `class` above the line with a smaller indent.
    const stack: { indent: number; id: string }[] = [];
    for (const tokens of lexed.lines) {
      const indent = tokens[0]!.col;
      while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
      const scope = stack.length ? stack[stack.length - 1]!.id : indent === 0 || whole ? '' : '?';
      const head = tokens[0]!.text === 'async' ? tokens[1]?.text : tokens[0]!.text;
      if (head === 'def' || head === 'class') stack.push({ indent, id: `${head}@${tokens[0]!.line}` });
      const logical: LogicalLine = { tokens, lines: linesOf(tokens), bare: true };
      for (const st of statementsOf(tokens)) {
        const bare = st.every((t) => t.kind === 'string');
        logical.bare &&= bare;
        statements.push({ tokens: st, logical, scope, lines: linesOf(st), bare });
      }
    }
  }
  return { statements, commentCol };
}

/** A hunk may start inside a docstring, whose closing quotes then seem to open a string that
 * swallows the rest of the hunk. When a triple-quoted string is left open at the end and its
 * quotes look like a closing one (text before them, nothing after, not after a `def` line), the
 * hunk is read again from the line after them; quotes that open a string stay as they are. */
function tokenizeHunk(seg: Segment): ReturnType<typeof tokenize> {
  let text = seg.text;
  let first = seg.first;
  for (;;) {
    const lexed = tokenize(text, first);
    const open = lexed.lines.flat().find((t) => t.str?.unterminated);
    if (!open || first === 1) return lexed;
    const lines = text.split('\n');
    const at = open.line - first;
    const quotes = open.text.length - open.str!.body.length;
    const before = lines[at]!.slice(0, open.col).trim();
    const after = lines[at]!.slice(open.col + quotes).trim();
    const previous = lines.slice(0, at).reverse().find((l) => l.trim())?.trim() ?? '';
    const opening = after !== '' || /[=(,[{:]$/.test(before) || (before === '' && /[:=(,[{]$/.test(previous));
    if (opening) return lexed;
    text = lines.slice(at + 1).join('\n');
    first += at + 1;
  }
}

function linesOf(tokens: readonly Token[]): number[] {
  const lines = new Set<number>();
  for (const t of tokens) for (let l = t.line; l <= t.endLine; l++) lines.add(l);
  return [...lines].sort((a, b) => a - b);
}

/** Names bound by imports (with what they name) and names bound any other way. */
function bindings(statements: readonly Statement[]): { imports: Map<string, string>; bound: Set<string> } {
  const imports = new Map<string, string>();
  const bound = new Set<string>();
  for (const { tokens } of statements) {
    const first = tokens[0]?.text;
    if (first === 'import') {
      for (const item of splitTop(tokens.slice(1), (t) => t.text === ',')) {
        const names = item.filter((t) => t.kind === 'name').map((t) => t.text);
        const as = names.indexOf('as');
        const dotted = (as < 0 ? names : names.slice(0, as)).join('.');
        if (as >= 0 && names[as + 1]) imports.set(names[as + 1]!, dotted);
        else if (names[0]) imports.set(names[0], names[0]);
      }
      continue;
    }
    if (first === 'from') {
      const at = tokens.findIndex((t) => t.text === 'import');
      if (at < 0) continue;
      const from = tokens.slice(1, at).map((t) => t.text).join('');
      const list = tokens.slice(at + 1).filter((t) => !isOp(t, '(', ')'));
      for (const item of splitTop(list, (t) => t.text === ',')) {
        const names = item.filter((t) => t.kind === 'name').map((t) => t.text);
        if (!names[0] || names[0] === '*') continue;
        const local = names[1] === 'as' && names[2] ? names[2] : names[0];
        imports.set(local, from.startsWith('.') ? from : `${from}.${names[0]}`);
      }
      continue;
    }
    if (first === 'def' || first === 'class' || (first === 'async' && tokens[1]?.text === 'def')) {
      const nameAt = first === 'async' ? 2 : 1;
      if (isName(tokens[nameAt])) bound.add(tokens[nameAt]!.text);
      const open = tokens.findIndex((t) => isOp(t, '('));
      if (first !== 'class' && open >= 0)
        for (const p of splitTop(tokens.slice(open + 1, -1), (t) => t.text === ',')) {
          const n = p.find((t) => isName(t));
          if (n) bound.add(n.text);
        }
      continue;
    }
    // `x = import_module("m")` and `x = __import__("m")` bind a module too.
    const eq = tokens.findIndex((t) => isOp(t, '='));
    if (eq === 1 && isName(tokens[0])) {
      const rhs = chainAt(tokens, 2);
      const callee = rhs && rhs.parts[rhs.parts.length - 1];
      const fn = rhs && [rhs.root, ...rhs.parts.filter((p) => p.kind === 'attr').map((p) => (p as { name: string }).name)].pop();
      const arg = callee?.kind === 'call' ? callee.inner[0] : undefined;
      if (rhs?.end === tokens.length && (fn === 'import_module' || fn === '__import__') && arg?.kind === 'string') {
        imports.set(tokens[0]!.text, arg.str!.body);
        continue;
      }
    }
    for (const name of boundNames(tokens)) bound.add(name);
  }
  return { imports, bound };
}

/** Plain names a statement binds: assignment targets, loop and `with ... as` targets. */
function boundNames(tokens: readonly Token[]): string[] {
  const out: string[] = [];
  const targets = (part: readonly Token[]) => {
    for (const t of splitTop(part.filter((x) => !isOp(x, '(', ')', '[', ']')), (x) => x.text === ','))
      if (t.length === 1 && isName(t[0])) out.push(t[0]!.text);
  };
  const eqs = splitTop(tokens, (t) => isOp(t, '=', ':='));
  for (const part of eqs.slice(0, -1)) targets(part.slice(0, Math.max(0, part.findIndex((t) => isOp(t, ':'))) || part.length));
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.text === 'for') {
      const end = tokens.findIndex((x, j) => j > i && x.text === 'in');
      if (end > i) targets(tokens.slice(i + 1, end));
    } else if (t.text === 'as' && isName(tokens[i + 1])) out.push(tokens[i + 1]!.text);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Helpers for checks

export const changed = (view: FileView, s: Statement) => s.lines.some((l) => view.added.has(l));

/** The added line to report: `line` itself when the patch added it, else the statement's first. */
export function reportLine(view: FileView, lines: readonly number[], line?: number): number | undefined {
  if (line !== undefined && view.added.has(line)) return line;
  return lines.find((l) => view.added.has(l));
}

export function finding(view: FileView, line: number, base: FindingBase): AuditFinding {
  return { ...base, file: view.path, line, evidence: view.text(line).trim() };
}

/** Spans a pattern check reads: each changed logical line of a Python file, each added line of
 * any other file. */
export function* spans(ctx: PatchContext, mode: 'raw' | 'masked'): Generator<{ view: FileView; rendered: Rendered; lines: number[] }> {
  for (const view of ctx.views) {
    if (!view.python) {
      for (const a of ctx.added) {
        if (a.file !== view.path) continue;
        yield { view, rendered: { text: a.text, lineAt: () => a.line }, lines: [a.line] };
      }
      continue;
    }
    let last: LogicalLine | undefined;
    for (const s of view.statements) {
      // Docstrings are left out; a string inside code stays part of its line.
      if (s.logical === last || s.logical.bare || !changed(view, s)) continue;
      last = s.logical;
      yield { view, rendered: render(s.logical.tokens, mode), lines: s.logical.lines };
    }
  }
}

/** A finding for each match of each pattern in the changed code, one per line. */
export function flagPatterns(ctx: PatchContext, mode: 'raw' | 'masked', patterns: readonly RegExp[], base: FindingBase): AuditFinding[] {
  const out: AuditFinding[] = [];
  const global = patterns.map((p) => new RegExp(p.source, p.flags.includes('g') ? p.flags : p.flags + 'g'));
  for (const { view, rendered, lines } of spans(ctx, mode)) {
    for (const re of global) {
      for (const m of rendered.text.matchAll(re)) {
        const line = reportLine(view, lines, rendered.lineAt(m.index));
        if (line !== undefined) out.push(finding(view, line, base));
      }
    }
  }
  return out;
}
