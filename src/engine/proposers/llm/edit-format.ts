// The answer format a model writes (hypothesis, notes, SEARCH/REPLACE edit blocks), parsed strictly,
// applied to the files with errors precise enough to send back to the model, and turned into a patch.
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import picomatch from 'picomatch';

/** The answer does not follow the format; the message says what to fix, for the model to read. */
export class AnswerFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnswerFormatError';
  }
}

/** The edits are well formed but cannot be applied to the files; the message says why, for the model. */
export class EditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EditError';
  }
}

/** One SEARCH/REPLACE block. `search` and `replace` are whole lines, each ending with '\n'
 * ('' means no lines), so that "no lines" and "one empty line" stay distinct. */
export interface Edit {
  path: string;
  search: string;
  replace: string;
}

export interface ParsedAnswer {
  hypothesis: string;
  notes?: string;
  edits: Edit[];
}

export interface ParseOptions {
  /** Accept an Edits section without blocks (e.g. `none`): for a clean merge that needs no fix. */
  allowNoEdits?: boolean;
}

export interface EditRules {
  editable: string[];
  protected: string[];
}

export const EDIT_FORMAT_INSTRUCTIONS = `Answer in exactly this format, with these three sections in this order:

### Hypothesis
One or two sentences: what you change and why it should improve the metric.
### Notes
The research notes, updated: what has been learned, what to try next, what to avoid. They replace the previous notes, so keep what still matters. (This section may be left out.)
### Edits
One or more edit blocks. Each block is the file's path alone on a line, then:
<<<<<<< SEARCH
lines copied exactly from the current file
=======
the lines that replace them
>>>>>>> REPLACE

Rules for edit blocks:
- The SEARCH lines must match the current file exactly, character for character, including indentation and comments, and must match in exactly one place: include a few unchanged lines around the change when a line occurs more than once.
- Copy whole lines. Keep each block small: only the lines that change plus enough context to be unique.
- Blocks apply in order; a later block sees the file as the earlier blocks left it. Several blocks may edit the same file; the path may be left out of a block that directly follows another block of the same file.
- Only the editable files may change, and only their contents: no new files, no deleted files. An empty SEARCH is not allowed.
- To delete lines, leave the part between ======= and >>>>>>> REPLACE empty.

Example (for a file train.py; copy your SEARCH lines from the files you are given, not from here):

### Hypothesis
Raise the learning rate from 1e-3 to 3e-3: the loss is still falling steadily when training stops, so the steps are too small.
### Notes
- lr 1e-3 under-trains within the budget; try 3e-3 next, then a warm-up.
### Edits
train.py
<<<<<<< SEARCH
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3,
                              weight_decay=0.1)
=======
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3,
                              weight_decay=0.1)
>>>>>>> REPLACE`;

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

type SectionName = 'hypothesis' | 'notes' | 'edits';

const SECTION_TITLES: Record<SectionName, string> = { hypothesis: 'Hypothesis', notes: 'Notes', edits: 'Edits' };
const SECTION_HEADER = /^\s{0,3}#{1,6}\s*(hypothesis|notes|edits)\s*:?\s*$/i;
const SEARCH_MARKER = /^<{5,9} ?SEARCH\s*$/;
// Exactly seven: a looser divider would collide with reStructuredText underlines in docstrings.
const DIVIDER = /^={7}\s*$/;
const REPLACE_MARKER = /^>{5,9} ?REPLACE\s*$/;
const FENCE = /^\s*(`{3,}|~{3,})/;
// git's conflict markers, which a SEARCH may contain when the model resolves a conflicted merge.
const CONFLICT_OPEN = /^<{7}(?:\s|$)/;
const CONFLICT_CLOSE = /^>{7}(?:\s|$)/;

interface RawBlock {
  path?: string;
  search: string[];
  replace: string[];
}

/** The last meaningful line of the Edits section above a block: it names the block's file. */
type LineAbove = { kind: 'header' } | { kind: 'block-end' } | { kind: 'text'; text: string };

/** Parses a model's answer; throws AnswerFormatError saying precisely what is wrong. */
export function parseAnswer(text: string, options: ParseOptions = {}): ParsedAnswer {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const sections = new Map<SectionName, string[]>();
  const blocks: RawBlock[] = [];
  let current: SectionName | undefined;
  let lastLine: LineAbove = { kind: 'header' };

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const header = SECTION_HEADER.exec(line);
    if (header) {
      const name = header[1]!.toLowerCase() as SectionName;
      if (sections.has(name)) throw new AnswerFormatError(`the ### ${SECTION_TITLES[name]} section appears twice (again at line ${i + 1}); write each section once`);
      sections.set(name, []);
      current = name;
      lastLine = { kind: 'header' };
      continue;
    }
    if (SEARCH_MARKER.test(line)) {
      if (current !== 'edits') {
        throw new AnswerFormatError(`edit block ${blocks.length + 1} (line ${i + 1}) is not under a ### Edits header; put every edit block after "### Edits"`);
      }
      const block = readBlock(lines, i, blocks.length + 1);
      block.path = pathFor(lastLine, blocks, blocks.length + 1);
      blocks.push(block);
      i = block.end;
      lastLine = { kind: 'block-end' };
      continue;
    }
    if (current === 'edits') {
      if (DIVIDER.test(line) || REPLACE_MARKER.test(line)) {
        throw new AnswerFormatError(`line ${i + 1} ("${line.trim()}") is outside any edit block: every block starts with a <<<<<<< SEARCH line`);
      }
      if (line.trim() !== '' && !FENCE.test(line)) lastLine = { kind: 'text', text: line };
      sections.get('edits')!.push(line);
    } else if (current) {
      sections.get(current)!.push(line);
    }
  }
  return assemble(sections, blocks, options);
}

/** Reads the block whose SEARCH marker is at `start`; `end` is the line of its REPLACE marker. */
function readBlock(lines: string[], start: number, n: number): RawBlock & { end: number } {
  const search: string[] = [];
  const replace: string[] = [];
  let part: 'search' | 'replace' = 'search';
  let conflictDepth = 0;
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (SEARCH_MARKER.test(line)) {
      throw new AnswerFormatError(`edit block ${n} (line ${start + 1}) has no >>>>>>> REPLACE line before the next <<<<<<< SEARCH (line ${i + 1})`);
    }
    if (REPLACE_MARKER.test(line)) {
      if (part === 'search' && conflictDepth > 0) {
        throw new AnswerFormatError(
          `edit block ${n} (line ${start + 1}) has no ======= line of its own: its SEARCH opens a git conflict (a <<<<<<< line) that it does not close; cover each conflict whole, from its <<<<<<< line to its >>>>>>> line`,
        );
      }
      if (part === 'search') throw new AnswerFormatError(`edit block ${n} (line ${start + 1}) has no ======= line between its SEARCH and REPLACE parts`);
      return { search, replace, end: i };
    }
    if (DIVIDER.test(line) && conflictDepth === 0) {
      if (part === 'replace') {
        throw new AnswerFormatError(`edit block ${n} (line ${start + 1}) has more than one ======= line (again at line ${i + 1}); a block has exactly one`);
      }
      part = 'replace';
      continue;
    }
    if (CONFLICT_OPEN.test(line)) conflictDepth++;
    else if (CONFLICT_CLOSE.test(line) && conflictDepth > 0) conflictDepth--;
    (part === 'search' ? search : replace).push(line);
  }
  const missing = part === 'search' ? '======= and >>>>>>> REPLACE lines' : '>>>>>>> REPLACE line';
  throw new AnswerFormatError(`edit block ${n} (line ${start + 1}) has no ${missing}: the answer ends inside it`);
}

/** The file a block edits: the line just above it, or the previous block's file when blocks follow each other. */
function pathFor(last: LineAbove, earlier: RawBlock[], n: number): string {
  if (last.kind === 'block-end') return earlier[earlier.length - 1]!.path!;
  if (last.kind === 'header') throw new AnswerFormatError(`no file path before edit block ${n}: write the file's path alone on the line above <<<<<<< SEARCH`);
  // Models decorate the path line: `train.py`, **train.py**, train.py:
  const path = last.text.trim().replace(/:$/, '').replace(/^(\*\*|`)(.*)\1$/, '$2').trim();
  if (path === '') throw new AnswerFormatError(`no file path before edit block ${n}: write the file's path alone on the line above <<<<<<< SEARCH`);
  return path;
}

function assemble(sections: Map<SectionName, string[]>, blocks: RawBlock[], options: ParseOptions): ParsedAnswer {
  const hypothesisLines = sections.get('hypothesis');
  if (!hypothesisLines) throw new AnswerFormatError('the answer has no ### Hypothesis section; start the answer with "### Hypothesis" and one or two sentences');
  const hypothesis = sectionText(hypothesisLines);
  if (hypothesis === '') throw new AnswerFormatError('the ### Hypothesis section is empty; say in one or two sentences what changes and why');
  if (!sections.has('edits')) throw new AnswerFormatError('the answer has no ### Edits section; end the answer with "### Edits" and the edit blocks');
  if (blocks.length === 0) {
    const rest = sectionText(sections.get('edits')!).replace(/[`*.]/g, '').trim().toLowerCase();
    if (!(options.allowNoEdits && (rest === '' || rest === 'none'))) {
      throw new AnswerFormatError('the ### Edits section has no edit blocks; each block starts with a <<<<<<< SEARCH line');
    }
  }
  const answer: ParsedAnswer = {
    hypothesis,
    edits: blocks.map((b) => ({ path: b.path!, search: asLines(b.search), replace: asLines(b.replace) })),
  };
  const notes = sections.get('notes');
  if (notes) answer.notes = sectionText(notes);
  return answer;
}

/** A section's text without blank edges and without a fence wrapped around the whole of it. */
function sectionText(lines: string[]): string {
  const kept = lines.join('\n').trim().split('\n');
  const fence = /^\s*(`{3,}|~{3,})\s*\w*\s*$/;
  if (kept.length >= 2 && fence.test(kept[0]!) && fence.test(kept[kept.length - 1]!)) return kept.slice(1, -1).join('\n').trim();
  if (kept.length >= 1 && fence.test(kept[kept.length - 1]!) && !kept.slice(0, -1).some((l) => fence.test(l))) {
    return kept.slice(0, -1).join('\n').trim(); // the closing fence of an answer wrapped whole
  }
  return kept.join('\n').trim();
}

function asLines(lines: string[]): string {
  return lines.map((l) => l + '\n').join('');
}

// ---------------------------------------------------------------------------------------------
// Applying
// ---------------------------------------------------------------------------------------------

/** Applies the edits in order to the files; returns the new content of each changed file.
 * Throws EditError, naming the block and the file, when an edit may not or cannot be applied. */
export function applyEdits(files: ReadonlyMap<string, string>, edits: readonly Edit[], rules: EditRules): Map<string, string> {
  const contents = new Map(files);
  edits.forEach((edit, index) => {
    const n = index + 1;
    const path = checkPath(edit.path, n, files, rules);
    if (edit.search === '') {
      throw new EditError(`edit block ${n} (${path}) has an empty SEARCH: files can only be edited, so copy the lines to change from the file`);
    }
    if (edit.search === edit.replace) throw new EditError(`edit block ${n} (${path}) changes nothing: its SEARCH and REPLACE parts are identical`);
    contents.set(path, applyEdit(contents.get(path)!, edit, path, n));
  });
  const changed = new Map<string, string>();
  for (const [path, content] of contents) if (files.get(path) !== content) changed.set(path, content);
  if (changed.size === 0) throw new EditError('the edits change nothing: the files end up exactly as they were');
  return changed;
}

/** The repo-relative path an edit may change; throws EditError naming the file and what may be edited. */
function checkPath(raw: string, n: number, files: ReadonlyMap<string, string>, rules: EditRules): string {
  const path = raw.replace(/^\.\//, '');
  const editableList = rules.editable.join(', ') || '(none)';
  if (rules.protected.length > 0 && picomatch(rules.protected, { dot: true })(path)) {
    throw new EditError(`edit block ${n} edits ${path}, which is protected: no change may touch it. The editable files are: ${editableList}`);
  }
  if (!rules.editable.includes(path)) {
    throw new EditError(`edit block ${n} edits ${path}, which is not an editable file. The editable files are: ${editableList} (write the path alone on the line above <<<<<<< SEARCH)`);
  }
  if (!files.has(path)) {
    const shown = [...files.keys()].filter((p) => rules.editable.includes(p)).join(', ') || '(none)';
    throw new EditError(`edit block ${n} edits ${path}, which is editable but not one of the files given to edit now: ${shown}`);
  }
  return path;
}

function applyEdit(content: string, edit: Edit, path: string, n: number): string {
  const fileLines = content.split('\n');
  const searchLines = withoutFinalNewline(edit.search).split('\n');
  let matches = findRuns(fileLines, searchLines, (a, b) => a === b);
  // The one tolerance: trailing whitespace and \r\n line ends, which models do not reproduce reliably.
  if (matches.length === 0) matches = findRuns(fileLines, searchLines, (a, b) => a.trimEnd() === b.trimEnd());
  if (matches.length === 0) throw new EditError(`edit block ${n}: the SEARCH lines were not found in ${path}. ${describeMismatch(fileLines, searchLines, path)}`);
  if (matches.length > 1) {
    const where = matches.slice(0, 10).map((m) => m + 1).join(', ');
    throw new EditError(`edit block ${n}: the SEARCH lines match ${matches.length} places in ${path} (starting at lines ${where}); include more of the surrounding lines so that they match exactly one place`);
  }
  return replaceRun(fileLines, matches[0]!, searchLines.length, edit.replace);
}

function withoutFinalNewline(text: string): string {
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

/** Start indexes where `needle` occurs as consecutive lines of `lines`. */
function findRuns(lines: string[], needle: string[], same: (a: string, b: string) => boolean): number[] {
  const found: number[] = [];
  for (let i = 0; i + needle.length <= lines.length; i++) {
    if (needle.every((l, j) => same(lines[i + j]!, l))) found.push(i);
  }
  return found;
}

/** Replaces `count` lines at `start`, writing the new lines with the line ends of the lines they replace. */
function replaceRun(fileLines: string[], start: number, count: number, replace: string): string {
  const crlf = fileLines.slice(start, start + count).some((l) => l.endsWith('\r'));
  const reachesEnd = start + count === fileLines.length;
  const replacement = replace === '' ? [] : withoutFinalNewline(replace).split('\n');
  const written = replacement.map((l, j) => {
    // The file's last piece has no line end of its own, so it gets no \r either.
    const last = reachesEnd && j === replacement.length - 1;
    return crlf && !last && !l.endsWith('\r') ? l + '\r' : l;
  });
  return [...fileLines.slice(0, start), ...written, ...fileLines.slice(start + count)].join('\n');
}

/** Where the SEARCH went wrong: its first line missing from the file, with the file's most similar
 * line, or, when every line exists, the region of the file that comes closest. */
function describeMismatch(fileLines: string[], searchLines: string[], path: string): string {
  const missing = searchLines.findIndex((l) => l.trim() !== '' && !fileLines.some((f) => f.trim() === l.trim()));
  if (missing >= 0) {
    const closest = mostSimilarLine(fileLines, searchLines[missing]!);
    return (
      `SEARCH line ${missing + 1} does not occur in ${path}: ${quote(searchLines[missing]!)}. ` +
      `The most similar line of ${path} is line ${closest + 1}: ${quote(fileLines[closest]!)}. ` +
      `Copy the lines exactly from the file; here are its lines ${regionText(fileLines, closest - missing - 1, searchLines.length + 2)}`
    );
  }
  const start = closestRegion(fileLines, searchLines);
  return (
    `Each SEARCH line occurs in ${path}, but not as these consecutive lines with this indentation. ` +
    `The closest region is lines ${regionText(fileLines, start, searchLines.length)}`
  );
}

/** The start of the run of lines that agrees with the most SEARCH lines (ignoring line-end whitespace). */
function closestRegion(fileLines: string[], searchLines: string[]): number {
  let best = 0;
  let bestScore = -1;
  for (let start = 1 - searchLines.length; start < fileLines.length; start++) {
    let score = 0;
    searchLines.forEach((l, j) => {
      const f = fileLines[start + j];
      if (f !== undefined && f.trim() === l.trim() && l.trim() !== '') score += f.trimEnd() === l.trimEnd() ? 2 : 1;
    });
    if (score > bestScore) [best, bestScore] = [start, score];
  }
  return Math.max(0, best);
}

/** "a–b of the file:\n" followed by those lines, numbered, at most 15 of them. */
function regionText(fileLines: string[], start: number, count: number): string {
  const from = Math.max(0, start);
  const to = Math.min(fileLines.length, from + Math.min(Math.max(count, 1), 15));
  const body = fileLines
    .slice(from, to)
    .map((l, j) => `${String(from + j + 1).padStart(5)} | ${l.replace(/\r$/, '')}`)
    .join('\n');
  return `${from + 1}–${to} of the file (line numbers are not part of the file):\n${body}`;
}

function mostSimilarLine(fileLines: string[], target: string): number {
  const wanted = target.trim();
  let best = 0;
  let bestScore = -1;
  fileLines.forEach((line, i) => {
    const score = similarity(line.trim(), wanted);
    if (score > bestScore) [best, bestScore] = [i, score];
  });
  return best;
}

/** 2·LCS/(|a|+|b|) over at most 200 characters of each: 1 for equal lines, near 0 for unrelated ones.
 * A common subsequence rewards a line that keeps the target's names while its numbers or comment differ. */
function similarity(a: string, b: string): number {
  const s = a.slice(0, 200);
  const t = b.slice(0, 200);
  if (s.length + t.length === 0) return 1;
  let previous = new Array<number>(t.length + 1).fill(0);
  for (let i = 1; i <= s.length; i++) {
    const row = [0];
    for (let j = 1; j <= t.length; j++) {
      row[j] = s[i - 1] === t[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, row[j - 1]!);
    }
    previous = row;
  }
  return (2 * previous[t.length]!) / (s.length + t.length);
}

function quote(line: string): string {
  return JSON.stringify(line.replace(/\r$/, ''));
}

/** 1-based lines of `content` that are git conflict markers (<<<<<<<, |||||||, =======, >>>>>>>). */
export function conflictMarkerLines(content: string): number[] {
  const lines: number[] = [];
  content.split('\n').forEach((l, i) => {
    if (/^(<{7}|>{7}|\|{7})(\s|$)/.test(l) || /^={7}\r?$/.test(l)) lines.push(i + 1);
  });
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Diffing
// ---------------------------------------------------------------------------------------------

/** A unified diff (git style: `diff --git` headers, a/ and b/ prefixes) from `before` to `after`,
 * over the files of `after` whose content differs; files come in path order. */
export function unifiedDiff(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string {
  const parts: string[] = [];
  for (const path of [...after.keys()].sort()) {
    const old = before.get(path);
    if (old === undefined) throw new Error(`unifiedDiff: ${path} has no original content (files are edited, never created)`);
    const updated = after.get(path)!;
    if (old === updated) continue;
    // git writes a tab after a name with a space in it, so that the name's end is unambiguous.
    const tab = path.includes(' ') ? '\t' : '';
    const body = createTwoFilesPatch(`a/${path}`, `b/${path}`, old, updated, undefined, undefined, { context: 3, headerOptions: FILE_HEADERS_ONLY });
    parts.push(`diff --git a/${path} b/${path}\n${tab ? addTabs(body, path) : body}`);
  }
  return parts.join('');
}

function addTabs(body: string, path: string): string {
  return body.replace(`--- a/${path}\n`, `--- a/${path}\t\n`).replace(`+++ b/${path}\n`, `+++ b/${path}\t\n`);
}
