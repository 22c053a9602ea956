// Text shared by the commands: how a verdict, a metric and a table look in a terminal.
import type { Provenance } from '../engine/provenance';
import type { ExperimentRecord } from '../engine/types';

export function fmtValue(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '—';
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return v.toExponential(3);
  return v.toFixed(4);
}

export function fmtMetric(e: ExperimentRecord): string {
  if (e.mean === undefined) return '—';
  const n = e.runs.filter((r) => r.value !== undefined).length;
  return n > 1 ? `${fmtValue(e.mean)} ± ${fmtValue(e.spread ?? 0)} (${n})` : fmtValue(e.mean);
}

export function fmtDelta(e: ExperimentRecord, parent: ExperimentRecord | undefined): string {
  if (e.mean === undefined || parent?.mean === undefined) return '';
  const d = e.mean - parent.mean;
  return `${d >= 0 ? '+' : '−'}${fmtValue(Math.abs(d))}`;
}

/** The verdict as a column shows it: a kept result a person accepted says so. */
export function verdictWord(e: ExperimentRecord): string {
  return e.verdict.kind === 'kept' && e.accepted ? 'kept (accepted)' : e.verdict.kind;
}

/** "accepted by cli on 2026-11-23 18:49: the warm-up explains it" */
export function acceptedText(a: NonNullable<ExperimentRecord['accepted']>): string {
  const when = a.at.replace('T', ' ').slice(0, 16);
  return `accepted by ${a.by} on ${when}${a.reason ? `: ${a.reason}` : ''}`;
}

/** " (self-reported)" after a value whose metric is what the script printed; '' otherwise. */
export function provenanceMark(p: Provenance | undefined): string {
  return p === 'self-reported' ? ' (self-reported)' : '';
}

export function verdictReason(e: ExperimentRecord): string {
  const v = e.verdict;
  switch (v.kind) {
    case 'kept': {
      const gain = `better by ${fmtValue(v.improvement)} (> ${fmtValue(v.threshold)} noise margin)`;
      return e.accepted ? `${gain}; held for review, then ${acceptedText(e.accepted)}` : gain;
    }
    case 'discarded':
    case 'failed':
    case 'rejected':
    case 'flagged':
      return v.reason;
    case 'suspect':
      return `held for review: ${v.reason} (accept it with \`ratchet accept ${e.id}\`)`;
    case 'cancelled':
      return String(e.meta?.note ?? 'cancelled');
    case 'baseline':
      return 'baseline';
  }
}

export function fmtDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}:${String(s % 60).padStart(2, '0')}` : `${s}s`;
}

/** A plain-text table; the last column is cut to fit `width`. */
export function table(header: string[], rows: string[][], width = 120): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const used = widths.slice(0, -1).reduce((a, w) => a + w + 2, 0);
  const lastWidth = Math.max(20, width - used);
  return all
    .map((r) =>
      r
        .map((cell, i) => {
          if (i === r.length - 1) return cell.length > lastWidth ? cell.slice(0, lastWidth - 1) + '…' : cell;
          return cell.padEnd(widths[i]!);
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Where an experiment sits among the threads: `t2`, `t2 combine e5`, `t1 debug e3`. */
export function fmtThread(e: ExperimentRecord): string {
  if (e.thread === 'main') return '';
  return e.intent === 'combine' || e.intent === 'debug' ? `${e.thread} ${e.intent} ${e.other ?? ''}`.trim() : e.thread;
}
