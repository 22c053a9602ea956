// View models: what the tree, the dashboard, the code lens, the diagnostics and the hovers show,
// computed from the engine's read-only view of a search. Pure functions, tested without a client.
import { parsePatch } from 'diff';
import * as path from 'node:path';
import type { SearchView } from '../engine/inspect';
import { totalUsage } from '../engine/llm/usage';
import { metricProvenance } from '../engine/provenance';
import { isOpen, threadViews } from '../engine/search/policy';
import type { AuditFinding, Direction, ExperimentRecord, Task } from '../engine/types';
import type { ExperimentView, SearchInfo, ThreadSummary, UsageTotal } from './protocol';

/** An experiment the journal says was started and has not finished. */
export interface Unfinished {
  id: string;
  parent?: string;
  hypothesis: string;
  /** Its thread, when the journal's start record says (it says for threaded proposers). */
  thread?: string;
}

export function experimentViews(view: SearchView, unfinished: readonly Unfinished[]): ExperimentView[] {
  const byId = new Map(view.experiments.map((e) => [e.id, e]));
  const done = view.experiments.map((e): ExperimentView => {
    const parent = e.parent ? byId.get(e.parent) : undefined;
    const v = e.verdict;
    return {
      id: e.id,
      parent: e.parent,
      hypothesis: e.hypothesis,
      status: v.kind,
      reason: 'reason' in v ? v.reason : undefined,
      mean: e.mean,
      spread: e.spread,
      delta: e.mean !== undefined && parent?.mean !== undefined ? e.mean - parent.mean : undefined,
      runs: e.runs.length,
      audit: e.audit,
      isBest: view.best?.id === e.id,
      hasCommit: e.commit !== undefined,
      ...threadFields(e),
      ...trustFields(e, view.settings.task),
    };
  });
  // Only a live search has running experiments; a dead one's leftovers are closed on resume.
  const running = view.running
    ? unfinished
        .filter((u) => !byId.has(u.id))
        .map((u): ExperimentView => ({ id: u.id, parent: u.parent, hypothesis: u.hypothesis, status: 'running', runs: 0, audit: [], isBest: false, hasCommit: false, ...(u.thread ? { thread: u.thread } : {}) }))
    : [];
  return [...done, ...running];
}

/** Thread, intent, other and usage, only those the record has: older records stay as they were. */
function threadFields(e: ExperimentRecord): Pick<ExperimentView, 'thread' | 'intent' | 'other' | 'usage'> {
  const out: Pick<ExperimentView, 'thread' | 'intent' | 'other' | 'usage'> = { thread: e.thread };
  if (e.intent) out.intent = e.intent;
  if (e.other) out.other = e.other;
  if (e.usage) out.usage = e.usage;
  return out;
}

/** Provenance, model review and acceptance, only those that apply. */
function trustFields(e: ExperimentRecord, task: Pick<Task, 'kernel'> | undefined): Pick<ExperimentView, 'provenance' | 'review' | 'accepted'> {
  const out: Pick<ExperimentView, 'provenance' | 'review' | 'accepted'> = {};
  const provenance = metricProvenance(e, task);
  if (provenance) out.provenance = provenance;
  if (e.review) out.review = e.review;
  if (e.accepted) out.accepted = e.accepted;
  return out;
}

/**
 * The search's threads of research, in the order they started; undefined when every experiment
 * is on 'main'. The figures are the search policy's own (threadViews), so "stale" here means the
 * policy no longer extends the thread; a running experiment keeps it open, as a pending proposal
 * does for the policy.
 */
export function threadSummaries(experiments: readonly ExperimentRecord[], direction: Direction, unfinished: readonly Unfinished[] = []): ThreadSummary[] | undefined {
  const done = new Set(experiments.map((e) => e.id));
  const running = unfinished.flatMap((u) => (u.thread !== undefined && !done.has(u.id) ? [{ thread: u.thread, parent: u.parent ?? '' }] : []));
  // Threads known only from running experiments wait for their first result to be shown.
  const threads = threadViews(experiments, running, direction).filter((t) => t.experiments.length > 0);
  if (threads.length === 0) return undefined;
  return threads.map((t) => ({
    id: t.info.id,
    focus: t.info.focus!,
    experiments: t.experiments.length,
    running: t.pending,
    // The head is the thread's own best only once one of its experiments was kept.
    ...(t.head?.thread === t.info.id && t.head.mean !== undefined ? { best: { id: t.head.id, mean: t.head.mean } } : {}),
    sinceImprovement: t.stale,
    open: isOpen(t),
  }));
}

/** Model calls summed over the experiments; undefined when no model made any. */
export function usageTotal(experiments: readonly ExperimentRecord[]): UsageTotal | undefined {
  return experiments.some((e) => e.usage !== undefined) ? totalUsage(experiments) : undefined;
}

export function searchInfo(repoRoot: string, view: SearchView, unfinished: readonly Unfinished[], runningHere: boolean): SearchInfo {
  const baseline = view.experiments.find((e) => e.id === 'e0');
  const running = runningHere || view.running !== undefined;
  // Only a live search's unfinished experiments are running; a dead one's do not keep a thread open.
  const threads = threadSummaries(view.experiments, view.metric.direction, running ? unfinished : []);
  const usage = usageTotal(view.experiments);
  const standsOn = view.best ?? baseline;
  const provenance = standsOn ? metricProvenance(standsOn, view.settings.task) : undefined;
  const held = view.experiments.flatMap((e) => (e.verdict.kind === 'suspect' ? [{ id: e.id, reason: e.verdict.reason }] : []));
  return {
    id: view.settings.id,
    file: view.settings.file,
    path: path.join(repoRoot, ...view.settings.file.split('/')),
    metric: view.metric,
    running,
    active: running ? unfinished.filter((u) => !view.experiments.some((e) => e.id === u.id)).length : 0,
    stoppedBecause: running ? undefined : view.stoppedBecause,
    baseline: baseline?.mean,
    best: view.best?.mean !== undefined ? { id: view.best.id, mean: view.best.mean } : undefined,
    experiments: view.experiments.filter((e) => e.id !== 'e0').length,
    runs: view.experiments.reduce((n, e) => n + e.runs.length, 0),
    flagged: view.experiments.filter((e) => e.audit.some((a) => a.severity === 'hack')).length,
    createdAt: view.settings.createdAt,
    // Only when present, so a search without threads or a model reads exactly as before.
    ...(threads ? { threads } : {}),
    ...(usage ? { usage } : {}),
    ...(provenance ? { provenance } : {}),
    ...(held.length > 0 ? { held } : {}),
  };
}

/** Four significant digits, the precision a person compares metrics at. */
export function fmtValue(x: number): string {
  return Number(x.toPrecision(4)).toString();
}

/** A signed delta with a real minus sign, e.g. "−0.026". */
export function fmtDelta(x: number): string {
  const s = fmtValue(Math.abs(x));
  return x < 0 ? `\u2212${s}` : `+${s}`;
}

/** " (self-reported)" after a value the script printed rather than the harness or the evaluator. */
export function provenanceSuffix(p: SearchInfo['provenance']): string {
  return p === 'self-reported' ? ' (self-reported)' : '';
}

/** "best 0.9109 val_bpb, −0.026 vs baseline · 37 runs · 1 held for review" */
export function codeLensTitle(info: SearchInfo): string {
  const parts: string[] = [];
  const self = provenanceSuffix(info.provenance);
  if (info.best && info.baseline !== undefined && info.best.id !== 'e0') {
    parts.push(`best ${fmtValue(info.best.mean)} ${info.metric.name}${self}, ${fmtDelta(info.best.mean - info.baseline)} vs baseline`);
  } else if (info.baseline !== undefined) {
    parts.push(`baseline ${fmtValue(info.baseline)} ${info.metric.name}${self}, no improvement yet`);
  } else {
    parts.push('measuring the baseline');
  }
  parts.push(`${info.runs} run${info.runs === 1 ? '' : 's'}`);
  if (info.running) parts.push('running');
  if (info.flagged > 0) parts.push(`${info.flagged} flagged`);
  if (info.held) parts.push(`${info.held.length} held for review`);
  return parts.join(' · ');
}

/** An audit finding placed on a line (0-based), with the words a person reads in Problems. */
export interface PlacedFinding {
  line: number;
  severity: AuditFinding['severity'];
  message: string;
  check: string;
}

/** Findings of every experiment, placed on the experiment's own version of the file. */
export function findingsInExperiment(e: ExperimentRecord, file: string): PlacedFinding[] {
  return e.audit
    .filter((a) => a.file === file)
    .map((a) => ({
      line: Math.max(0, (a.line ?? 1) - 1),
      severity: a.severity,
      check: a.check,
      message: `${e.id} (${e.verdict.kind}): ${a.message}${a.evidence ? ` — evidence: ${a.evidence}` : ''}`,
    }));
}

/**
 * Findings placed on the searched file as the user has it (the baseline): a line the experiment
 * added is shown where it would go, so the warning sits next to the code it would have replaced.
 */
export function findingsInBaseline(e: ExperimentRecord, file: string, cumulativePatch: string): PlacedFinding[] {
  return findingsInExperiment(e, file).map((f) => ({
    ...f,
    line: Math.max(0, newLineToOld(cumulativePatch, file, f.line + 1) - 1),
    message: `${f.severity === 'hack' ? 'suspected reward hack in' : 'audit warning in'} ${f.message}`,
  }));
}

/** The warning's words for a result held for review: what it is and what to do about it. */
function heldMessage(e: ExperimentRecord): string | undefined {
  if (e.verdict.kind !== 'suspect') return undefined;
  const review = e.review ? ` (model review by ${e.review.model}: ${e.review.verdict} — ${e.review.reason})` : '';
  return `${e.id} is held for review: ${e.verdict.reason}${review}. It is not kept until you accept it (Ratchet: Accept Suspect Result…) after reviewing the change.`;
}

/** A result held for review, as a warning on the first line it changes in its own version of the file. */
export function heldInExperiment(e: ExperimentRecord, file: string): PlacedFinding[] {
  const message = heldMessage(e);
  if (!message) return [];
  const first = addedLinesOf(e.patch, file)[0];
  return [{ line: Math.max(0, (first?.line ?? 1) - 1), severity: 'warning', check: 'held-for-review', message }];
}

/** The same warning on the user's file: where the change from the baseline would go. */
export function heldInBaseline(e: ExperimentRecord, file: string, cumulativePatch: string): PlacedFinding[] {
  const message = heldMessage(e);
  if (!message) return [];
  const first = addedLinesOf(cumulativePatch, file)[0];
  const line = first ? newLineToOld(cumulativePatch, file, first.line) : 1;
  return [{ line: Math.max(0, line - 1), severity: 'warning', check: 'held-for-review', message }];
}

/**
 * Maps a 1-based line of the patched file to the line of the original file it sits at: an added
 * line that replaces removed ones maps onto them, a pure insertion onto the line it precedes.
 */
export function newLineToOld(patch: string, file: string, newLine: number): number {
  let offset = 0;
  for (const p of parsePatch(patch)) {
    if ((p.newFileName ?? '').replace(/^b\//, '') !== file) continue;
    for (const h of p.hunks) {
      if (newLine < h.newStart) break;
      let oldLine = h.oldStart;
      let line = h.newStart;
      let removed = 0; // removed lines in the current change block
      let added = 0; // added lines in the current change block
      for (const l of h.lines) {
        if (l.startsWith('+')) {
          if (line === newLine) return removed > 0 ? oldLine - removed + Math.min(added, removed - 1) : oldLine;
          line++;
          added++;
        } else if (l.startsWith('-')) {
          oldLine++;
          removed++;
        } else if (l.startsWith(' ')) {
          if (line === newLine) return oldLine;
          line++;
          oldLine++;
          removed = 0;
          added = 0;
        }
      }
      offset = oldLine - line;
    }
  }
  return newLine + offset;
}

/** Lines (1-based, in the experiment's file) and their text, as a patch adds them to `file`. */
export function addedLinesOf(patch: string, file: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  for (const p of parsePatch(patch)) {
    if ((p.newFileName ?? '').replace(/^b\//, '') !== file) continue;
    for (const h of p.hunks) {
      let line = h.newStart;
      for (const l of h.lines) {
        if (l.startsWith('+')) out.push({ line: line++, text: l.slice(1) });
        else if (l.startsWith(' ')) line++;
      }
    }
  }
  return out;
}

/**
 * Which kept experiment introduced a line of the file: the latest kept experiment that added
 * exactly this text. Matching by text, not by number, keeps it right after the user merges and
 * edits around the line.
 */
export function experimentForLine(kept: readonly ExperimentRecord[], file: string, text: string): ExperimentRecord | undefined {
  if (text.trim() === '') return undefined;
  for (let i = kept.length - 1; i >= 0; i--) {
    const e = kept[i]!;
    if (addedLinesOf(e.patch, file).some((a) => a.text === text)) return e;
  }
  return undefined;
}

export function hoverMarkdown(e: ExperimentRecord, parent: ExperimentRecord | undefined, metric: string, task?: Pick<Task, 'kernel'>): string {
  const verdict = e.accepted ? `${e.verdict.kind}, accepted after review` : e.verdict.kind;
  const lines = [`**Ratchet** · changed by experiment \`${e.id}\` (${verdict})`, '', e.hypothesis];
  if (e.mean !== undefined) {
    const delta = parent?.mean !== undefined ? `, ${fmtDelta(e.mean - parent.mean)} vs ${parent.id}` : '';
    lines.push('', `${metric} ${fmtValue(e.mean)} ± ${fmtValue(e.spread ?? 0)} over ${e.runs.length} run(s)${delta}${provenanceSuffix(metricProvenance(e, task))}`);
  }
  if (e.accepted) lines.push('', `Held for review, then accepted by ${e.accepted.by}${e.accepted.reason ? `: ${e.accepted.reason}` : ''}`);
  return lines.join('\n');
}
