// What the tree items and the status bar say, from the server's plain data. No `vscode` import,
// so the wording is tested with plain Node; the tree classes only wrap these in TreeItems.
import type { ExperimentStatus, ExperimentView, SearchInfo } from '../server/protocol';
import { fmtDelta, fmtValue } from '../server/views';

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
    cancelled: { id: 'debug-stop', color: 'disabledForeground' },
  };
  return icons[e.status];
}

export function experimentLabel(e: ExperimentView): string {
  return `${e.id} ${e.hypothesis}`;
}

/** "0.9109 ± 0.002 · −0.026 · kept · ⚠ hack" */
export function experimentDescription(e: ExperimentView): string {
  const parts: string[] = [];
  if (e.mean !== undefined) parts.push(e.spread ? `${fmtValue(e.mean)} ± ${fmtValue(e.spread)}` : fmtValue(e.mean));
  if (e.delta !== undefined && e.status !== 'baseline') parts.push(fmtDelta(e.delta));
  parts.push(e.isBest ? `${e.status}, best` : e.status);
  if (e.audit.some((a) => a.severity === 'hack')) parts.push('⚠ hack');
  else if (e.audit.length > 0) parts.push('⚠ check');
  return parts.join(' · ');
}

export function experimentTooltip(e: ExperimentView, metric: string): string {
  const lines = [`${e.id}: ${e.hypothesis}`, `status: ${e.status}${e.reason ? ` — ${e.reason}` : ''}`];
  if (e.mean !== undefined) lines.push(`${metric}: ${fmtValue(e.mean)} ± ${fmtValue(e.spread ?? 0)} over ${e.runs} run(s)`);
  if (e.delta !== undefined && e.parent) lines.push(`vs ${e.parent}: ${fmtDelta(e.delta)}`);
  for (const a of e.audit) lines.push(`${a.severity === 'hack' ? '⚠ suspected hack' : '⚠ warning'}: ${a.message}${a.line ? ` (line ${a.line})` : ''}${a.evidence ? `\n    ${a.evidence}` : ''}`);
  return lines.join('\n');
}

/** contextValue: which context actions an experiment offers (menus match on these words). */
export function experimentContext(e: ExperimentView): string {
  const words = ['experiment'];
  if (e.hasCommit) words.push('reviewable');
  if (e.status === 'kept') words.push('mergeable');
  if (e.runs > 0) words.push('logged');
  return words.join(' ');
}

export function searchLabel(s: SearchInfo): string {
  return s.file;
}

export function searchDescription(s: SearchInfo): string {
  const state = s.running ? `running${s.active ? ` (${s.active} active)` : ''}` : 'stopped';
  const best = s.best && s.best.id !== 'e0' ? `best ${fmtValue(s.best.mean)} ${s.metric.name}` : s.baseline !== undefined ? `baseline ${fmtValue(s.baseline)} ${s.metric.name}` : '';
  return [state, best, `${s.runs} runs`].filter(Boolean).join(' · ');
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
