// Files the editable code must leave alone: held-out data only the evaluator may read (reading
// it is training on the test), and protected files (writing, moving or deleting them).
import type { AuditFinding, Task } from '../types';
import { changed, finding, isSelfReported, reportLine, type LogicalLine, type PatchCheck } from './context';
import { assignment, isName, render, targetText, type Token } from './python';

interface PathName {
  /** Repo-relative glob it comes from. */
  glob: string;
  kind: 'protected' | 'evaluation';
  /** How code may spell it: the path, relative to the editable file's folder or the run's, or its last part. */
  spellings: string[];
  folder: boolean;
}

const GLOB = /[*?[\]{}!]/;

/** The literal paths of the task's protected and evaluation-only globs, as code may spell them. */
export function protectedPaths(task: Task): PathName[] {
  const folders = new Set([task.cwd, ...task.editable.map((e) => e.split('/').slice(0, -1).join('/'))].filter((f) => f !== undefined));
  const out: PathName[] = [];
  const add = (glob: string, kind: PathName['kind']) => {
    const parts = glob.replace(/\/+$/, '').split('/').filter((p) => p && p !== '.');
    const literal: string[] = [];
    for (const p of parts) {
      if (GLOB.test(p)) break;
      literal.push(p);
    }
    const spellings = new Set<string>();
    const last = parts[parts.length - 1];
    if (last && !GLOB.test(last)) spellings.add(last);
    if (literal.length) {
      const path = literal.join('/');
      spellings.add(path);
      spellings.add(literal[literal.length - 1]!);
      for (const f of folders) if (f && path.startsWith(`${f}/`)) spellings.add(path.slice(f.length + 1));
    }
    const folder = literal.length < parts.length || glob.endsWith('/');
    if (spellings.size) out.push({ glob, kind, spellings: [...spellings], folder });
  };
  for (const g of task.protected) add(g, 'protected');
  for (const g of task.evaluationOnly ?? []) add(g, 'evaluation');
  return out;
}

/** Whether the string `s` names the path (or something under it). */
function names(s: string, p: PathName, afterField: boolean): boolean {
  let t = s.replace(/\\\\/g, '/').trim();
  if (afterField) t = t.replace(/^\/+/, '');
  while (/^\.\.?\//.test(t)) t = t.replace(/^\.\.?\//, '');
  t = t.replace(/\/+$/, '');
  if (!t) return false;
  return p.spellings.some((c) => {
    if (t === c) return true;
    if (p.folder && t.startsWith(`${c}/`)) return true;
    // An absolute or longer path ending in the spelling: only for spellings with a folder in them,
    // or for file names (a bare folder name like `data` is too common a word).
    if (t.endsWith(`/${c}`) && (c.includes('/') || !p.folder)) return true;
    return c.includes('/') && t.includes(`/${c}/`);
  });
}

const READS = [
  /\bopen\s*\(/, /\b(?:Pure)?Path\s*\(/, /\b(?:np|numpy)\s*\.\s*(?:load|fromfile|memmap|loadtxt|genfromtxt)\s*\(/, /\btorch\s*\.\s*load\s*\(/,
  /\.read_(?:text|bytes)\s*\(/, /\.open\s*\(/, /\bos\s*\.\s*(?:open|listdir|scandir|walk|stat)\s*\(/, /\bglob\s*\.\s*i?glob\s*\(/, /\bpd\s*\.\s*read_\w+\s*\(/,
];
const WRITES = [
  /\b(?:np|numpy)\s*\.\s*save\w*\s*\(/, /\btorch\s*\.\s*save\s*\(/, /\bshutil\s*\.\s*\w+\s*\(/,
  /\bos\s*\.\s*(?:remove|rename|renames|replace|unlink|rmdir|removedirs|truncate|chmod|utime|link|symlink)\s*\(/,
  /\.(?:write_text|write_bytes|unlink|rename|touch|chmod|rmdir|symlink_to|hardlink_to)\s*\(/,
];
const WRITE_MODE = /^[rbt]*[wax+][rbt+]*$/;

/** String parts of a token that may be a path, each with whether it follows an f-string field. */
function pathTexts(t: Token): { text: string; line: number; afterField: boolean }[] {
  if (t.kind !== 'string' || !t.str || t.str.prefix.includes('b') || t.str.body.length > 300) return [];
  return t.str.parts.flatMap((p, n) => (p.kind === 'text' ? [{ text: p.text, line: p.line, afterField: n > 0 }] : []));
}

export const protectedPathAccess: PatchCheck = {
  name: 'protected-path-access',
  check({ task, views }) {
    const paths = protectedPaths(task);
    if (!paths.length) return [];
    const out: AuditFinding[] = [];
    for (const view of views) {
      if (!view.python) continue;
      // Names given a protected path anywhere in the file: `VAL = "data/val.bin"`.
      const named = new Map<string, PathName>();
      for (const s of [...view.statements, ...view.old]) {
        const a = assignment(s.tokens);
        if (!a || a.value.length !== 1) continue;
        const p = pathTexts(a.value[0]!).length ? paths.find((p) => pathTexts(a.value[0]!).some((x) => names(x.text, p, x.afterField))) : undefined;
        if (p) for (const t of a.targets) if (targetText(t)) named.set(targetText(t)!, p);
      }
      let last: LogicalLine | undefined;
      for (const s of view.statements) {
        if (s.logical.bare || s.logical === last || !changed(view, s)) continue;
        last = s.logical;
        const { tokens, lines } = s.logical;
        const masked = render(tokens, 'masked').text;
        const write = WRITES.some((p) => p.test(masked)) || tokens.some((t) => t.kind === 'string' && WRITE_MODE.test(t.str!.body) && /\bopen\s*\(|\bmemmap\s*\(|mode\s*=/.test(masked));
        const read = READS.some((p) => p.test(masked));
        if (!write && !read) continue;
        const hits: { p: PathName; line: number }[] = [];
        tokens.forEach((t, i) => {
          for (const x of pathTexts(t)) for (const p of paths) if (names(x.text, p, x.afterField)) hits.push({ p, line: x.line });
          if (isName(t) && !(i > 0 && tokens[i - 1]!.text === '.') && named.has(t.text) && !(tokens[i + 1]?.text === '=')) hits.push({ p: named.get(t.text)!, line: t.line });
        });
        for (const { p, line: at } of hits) {
          const line = reportLine(view, lines, at);
          if (line === undefined) continue;
          const source = p.spellings.some((c) => c.endsWith('.py')) || /\b(?:exec|compile)\s*\(/.test(masked);
          let severity: AuditFinding['severity'] = 'hack';
          let message: string;
          if (p.kind === 'evaluation')
            message = `${write ? 'writes' : 'reads'} held-out data only the evaluator may read (${p.glob}) from the editable code: training on the test`;
          else if (write) message = `writes, moves or deletes a protected file (${p.glob}) from the editable code`;
          else if (source) message = `reads the source of a protected file (${p.glob}), e.g. to run a changed copy of the evaluation`;
          else {
            message = `reads a protected file (${p.glob}) outside the protected code: check that it is not the evaluation's data`;
            // A self-reported task evaluates in the editable code, which then reads its data itself.
            if (isSelfReported(task)) severity = 'warning';
          }
          out.push(finding(view, line, { check: this.name, severity, message }));
        }
      }
    }
    return out;
  },
};
