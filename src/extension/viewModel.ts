// What the tree items and the status bar say, from the server's plain data. No `vscode` import,
// so the wording is tested with plain Node; the tree classes only wrap these in TreeItems.
import type { ExperimentStatus, ExperimentView, SearchInfo, ThreadSummary } from '../server/protocol';
import { usageText, usd } from '../engine/llm/usage';
import { fmtDelta, fmtValue, provenanceSuffix } from '../server/views';

export { usageText };

/** Codicon id per status: kept and best stand out, failures and hacks are unmistakable. */
export function statusIcon(e: ExperimentView): { id: string; color?: string } {
  if (e.audit.some((a) => a.severity === 'hack')) return { id: 'shield', color: 'errorForeground' };
  const icons: Record<ExperimentStatus, { id: string; color?: string }> = {
    running: { id: 'sync~spin' },
    baseline: { id: 'circle-outline' },
    kept: { id: e.isBest ? 'star-full' : 'pass', color: 'testing.iconPassed' },
    discarded: { id: 'circle-slash', color: 'disabledForeground' },
    failed: { id: 'error', color: 'testing.iconFailed' },
    rejected: { id: 'debug-disconnect', color: 'testing.iconFailed' },
    flagged: { id: 'shield', color: 'errorForeground' },
    suspect: { id: 'eye', color: 'editorWarning.foreground' },
    cancelled: { id: 'debug-stop', color: 'disabledForeground' },
  };
  return icons[e.status];
}

export function experimentLabel(e: ExperimentView): string {
  return `${e.id} ${e.hypothesis}`;
}

/** "0.9109 ± 0.002 · −0.026 · kept · ⚠ hack"; "… · suspect — review"; "… · kept · self-reported" */
export function experimentDescription(e: ExperimentView): string {
  const parts: string[] = [];
  if (e.mean !== undefined) parts.push(e.spread ? `${fmtValue(e.mean)} ± ${fmtValue(e.spread)}` : fmtValue(e.mean));
  if (e.delta !== undefined && e.status !== 'baseline') parts.push(fmtDelta(e.delta));
  const status = e.status === 'suspect' ? 'suspect — review' : e.accepted ? `${e.status} (accepted)` : e.status;
  parts.push(e.isBest ? `${status}, best` : status);
  if (e.provenance === 'self-reported') parts.push('self-reported');
  const marker = intentMarker(e);
  if (marker) parts.push(marker);
  if (e.audit.some((a) => a.severity === 'hack')) parts.push('⚠ hack');
  else if (e.audit.length > 0) parts.push('⚠ check');
  return parts.join(' · ');
}

/** How the tooltip says where a metric came from. */
const PROVENANCE_WORDS = {
  evaluator: 'from the evaluation function',
  harness: 'measured by the harness',
  'self-reported': 'self-reported: what the script printed',
} as const;

export function experimentTooltip(e: ExperimentView, metric: string): string {
  const status = e.status === 'suspect' ? 'suspect, held for review' : e.status;
  const lines = [`${e.id}: ${e.hypothesis}`, `status: ${status}${e.reason ? ` — ${e.reason}` : ''}`];
  if (e.mean !== undefined) lines.push(`${metric}: ${fmtValue(e.mean)} ± ${fmtValue(e.spread ?? 0)} over ${e.runs} run(s)${e.provenance ? ` (${PROVENANCE_WORDS[e.provenance]})` : ''}`);
  if (e.review) lines.push(`model review (${e.review.model}): ${e.review.verdict} — ${e.review.reason}`);
  if (e.status === 'suspect') lines.push('Not kept until you accept it: review the change, then Accept Suspect Result…');
  if (e.accepted) lines.push(`held for review, then accepted by ${e.accepted.by} on ${e.accepted.at.replace('T', ' ').slice(0, 16)}${e.accepted.reason ? `: ${e.accepted.reason}` : ''}`);
  if (e.delta !== undefined && e.parent) lines.push(`vs ${e.parent}: ${fmtDelta(e.delta)}`);
  if (e.thread && e.thread !== 'main') lines.push(`thread ${e.thread}${intentLine(e)}`);
  if (e.usage) lines.push(`model ${e.usage.model}: ${usageText(e.usage)}`);
  for (const a of e.audit) lines.push(`${a.severity === 'hack' ? '⚠ suspected hack' : '⚠ warning'}: ${a.message}${a.line ? ` (line ${a.line})` : ''}${a.evidence ? `\n    ${a.evidence}` : ''}`);
  return lines.join('\n');
}

/** The modal question before a suspect result is accepted: the reason it was held, and the model's review. */
export function acceptPrompt(e: ExperimentView): { message: string; detail: string } {
  const lines: string[] = [];
  if (e.review) lines.push(`Model review (${e.review.model}): ${e.review.verdict} — ${e.review.reason}`);
  lines.push(`${e.hypothesis}${e.delta !== undefined ? ` (${fmtDelta(e.delta)} vs ${e.parent ?? 'its parent'})` : ''}`);
  if (e.provenance === 'self-reported') lines.push('Its metric is self-reported: what the script printed.');
  lines.push('Accepted, it counts as kept: it can become the best, and the search builds on it.');
  return { message: `${e.id} was held for review: ${e.reason ?? 'too good to be true'}. Accept it as a real gain?`, detail: lines.join('\n') };
}

/** contextValue: which context actions an experiment offers (menus match on these words). */
export function experimentContext(e: ExperimentView): string {
  const words = ['experiment'];
  if (e.hasCommit) words.push('reviewable');
  if (e.status === 'kept') words.push('mergeable');
  if (e.status === 'suspect') words.push('acceptable');
  if (e.runs > 0) words.push('logged');
  return words.join(' ');
}

export function searchLabel(s: SearchInfo): string {
  return s.file;
}

export function searchDescription(s: SearchInfo): string {
  const state = s.running ? `running${s.active ? ` (${s.active} active)` : ''}` : 'stopped';
  const self = provenanceSuffix(s.provenance);
  const best = s.best && s.best.id !== 'e0' ? `best ${fmtValue(s.best.mean)} ${s.metric.name}${self}` : s.baseline !== undefined ? `baseline ${fmtValue(s.baseline)} ${s.metric.name}${self}` : '';
  // The dollars only: tokens without a price (the editor's own models) belong in the tooltip.
  const cost = s.usage && s.usage.costUsd > 0 ? usd(s.usage.costUsd) : '';
  const held = s.held ? `${s.held.length} held for review` : '';
  return [state, best, `${s.runs} runs`, held, cost].filter(Boolean).join(' · ');
}

/** The status bar: what runs, what waits, the best so far. */
export function statusBarText(searches: readonly SearchInfo[]): string {
  const running = searches.filter((s) => s.running);
  if (running.length === 0) {
    const last = searches[searches.length - 1];
    return last?.best ? `$(beaker) Ratchet: best ${fmtValue(last.best.mean)}` : '$(beaker) Ratchet';
  }
  const active = running.reduce((n, s) => n + s.active, 0);
  const best = running.map((s) => s.best).filter((b) => b !== undefined);
  const bestText = best.length ? ` · best ${best.map((b) => fmtValue(b.mean)).join(', ')}` : '';
  return `$(sync~spin) Ratchet: ${running.length} running · ${active} active${bestText}`;
}

export function searchTooltip(s: SearchInfo): string {
  const lines = [s.id, `${s.metric.name} (${s.metric.direction} is better)`];
  if (s.provenance === 'self-reported') lines.push(`${s.metric.name} is self-reported: the value is what the script printed, not captured from a protected evaluation function`);
  if (s.stoppedBecause) lines.push(`stopped: ${s.stoppedBecause}`);
  for (const h of s.held ?? []) lines.push(`${h.id} held for review: ${h.reason}`);
  if (s.threads) lines.push(`${s.threads.length} thread${s.threads.length === 1 ? '' : 's'} of research, ${s.threads.filter((t) => t.open).length} open`);
  if (s.usage) lines.push(`model: ${usageText(s.usage)}`);
  return lines.join('\n');
}


/** "combines e5" or "fixes e3": why an experiment is not a plain next step of its thread. */
export function intentMarker(e: ExperimentView): string | undefined {
  if (!e.other) return undefined;
  if (e.intent === 'combine') return `combines ${e.other}`;
  if (e.intent === 'debug') return `fixes ${e.other}`;
  return undefined;
}

/** The tooltip's words for the intent: what was brought in or fixed, or that a thread started. */
function intentLine(e: ExperimentView): string {
  if (e.intent === 'combine' && e.other) return ` · brings ${e.other}'s change into ${e.parent ?? 'its parent'}`;
  if (e.intent === 'debug' && e.other) return ` · fixes ${e.other}, which failed`;
  if (e.intent === 'draft') return ' · starts the thread';
  return '';
}

/** What the Experiments tree shows under a search: experiments, or threads holding them. */
export type SearchChild = { kind: 'experiment'; experiment: ExperimentView } | { kind: 'thread'; thread: ThreadSummary; experiments: ExperimentView[] };

/** A search has threads when any experiment is on one other than 'main'. */
export function hasThreads(experiments: readonly ExperimentView[]): boolean {
  return experiments.some((e) => e.thread !== undefined && e.thread !== 'main');
}

/**
 * A search's children in the tree. Without threads: its experiments, as they always were. With
 * threads: one node per thread where its first experiment falls, so the baseline (and anything on
 * 'main', or running on a thread not known yet) stays at the top, in order.
 */
export function searchChildren(search: SearchInfo, experiments: readonly ExperimentView[]): SearchChild[] {
  if (!hasThreads(experiments)) return experiments.map((experiment) => ({ kind: 'experiment', experiment }));
  // A thread's slot is where its first experiment falls; its rows are gathered first, then named.
  const slots: (ExperimentView | string)[] = [];
  const groups = new Map<string, ExperimentView[]>();
  for (const e of experiments) {
    if (e.thread === undefined || e.thread === 'main') {
      slots.push(e);
      continue;
    }
    const group = groups.get(e.thread);
    if (group) group.push(e);
    else {
      groups.set(e.thread, [e]);
      slots.push(e.thread);
    }
  }
  return slots.map((slot): SearchChild => {
    if (typeof slot !== 'string') return { kind: 'experiment', experiment: slot };
    const group = groups.get(slot)!;
    return { kind: 'thread', thread: threadOf(search, slot, group), experiments: group };
  });
}

/**
 * The server's summary of a thread. The experiments are asked for after the search, so a thread
 * that just started may not be in it yet: then an open one, told from its rows.
 */
function threadOf(search: SearchInfo, id: string, group: readonly ExperimentView[]): ThreadSummary {
  const known = search.threads?.find((t) => t.id === id);
  if (known) return known;
  const running = group.filter((e) => e.status === 'running').length;
  return { id, focus: group[0]!.hypothesis, experiments: group.length - running, running, sinceImprovement: 0, open: true };
}

/** "t2 Warm up the learning rate over the first…": the id, then the focus cut to a glance. */
export function threadLabel(t: ThreadSummary): string {
  return t.focus ? `${t.id} ${shorten(t.focus, 48)}` : t.id;
}

/** "best 0.9109 (e7) · 6 experiments · open": its best, its size and whether the search still extends it. */
export function threadDescription(t: ThreadSummary): string {
  const best = t.best ? `best ${fmtValue(t.best.mean)} (${t.best.id})` : 'nothing kept';
  const size = `${t.experiments} experiment${t.experiments === 1 ? '' : 's'}`;
  const running = t.running > 0 ? `${t.running} running` : '';
  return [best, size, running, t.open ? 'open' : 'stale'].filter(Boolean).join(' · ');
}

export function threadTooltip(t: ThreadSummary, metric: string): string {
  const lines = [`thread ${t.id}: ${t.focus}`];
  lines.push(t.best ? `best ${metric}: ${fmtValue(t.best.mean)} (${t.best.id})` : 'no kept experiment yet');
  lines.push(
    t.open
      ? `open: ${t.sinceImprovement} experiment(s) since its last improvement`
      : `stale: ${t.sinceImprovement} experiments without an improvement; the search no longer extends it`,
  );
  return lines.join('\n');
}

/** A branch for a line of research; a stale one is greyed, like a discarded experiment. */
export function threadIcon(t: ThreadSummary): { id: string; color?: string } {
  if (t.running > 0) return { id: 'git-branch', color: 'charts.blue' };
  return t.open ? { id: 'git-branch' } : { id: 'git-branch', color: 'disabledForeground' };
}

/** Cuts at a word boundary when there is one near the end, and says it was cut. */
function shorten(text: string, max: number): string {
  const line = text.split('\n')[0]!.trim();
  if (line.length <= max) return line;
  const cut = line.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > max / 2 ? cut.slice(0, space) : cut}…`;
}
