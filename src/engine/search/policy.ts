// Which node to extend next, and how: the search policy over threads of research. A thread is a
// line of experiments that extend each other towards one idea; the policy combines independent
// improvements of two threads, debugs a fresh failure, drafts a new thread while there is room,
// or improves the thread that an upper-confidence bound favours. Everything it needs is derived
// from the experiments themselves, so a resumed search picks up the same threads.
import type { Direction, ExperimentRecord, ProposalIntent, ThreadInfo } from '../types';
import { isBetter } from './decide';

/** A proposal handed out and not finished: being generated, waiting for a slot, or running. */
export interface PendingChoice {
  parent: string;
  thread: string;
  intent: ProposalIntent['kind'];
  other?: string;
}

export interface PolicyState {
  /** Every finished experiment, baseline first. */
  finished: readonly ExperimentRecord[];
  pending: readonly PendingChoice[];
  /** The best experiment so far (the baseline at first). */
  best: ExperimentRecord;
  direction: Direction;
  /** Threads that may be open at once. */
  maxThreads: number;
  random(): number;
}

/** What the policy asks for; a combination's merge is computed by the search before proposing. */
export type PolicyIntent =
  | { kind: 'improve' }
  | { kind: 'debug'; failed: ExperimentRecord }
  | { kind: 'draft'; others: ThreadInfo[] }
  | { kind: 'combine'; other: ExperimentRecord };

export interface Choice {
  parent: ExperimentRecord;
  thread: ThreadInfo;
  intent: PolicyIntent;
}

/** A thread that has gone this many experiments without an improvement is closed. */
export const STALE_AFTER = 5;
/** A failure is debugged at most this deep (a fix of a fix, not further). */
const MAX_DEBUG_DEPTH = 2;
/** How often a failed fix is debugged again rather than the search moving on (a fresh failure
 * always gets one fix: most crashes are one small mistake away from a real test of the idea). */
const DEBUG_AGAIN_PROBABILITY = 0.5;
/** Exploration weight of the upper-confidence bound over threads. */
const EXPLORATION = 0.7;

/** A thread as the policy sees it; the editor's views show the same figures. */
export interface ThreadView {
  info: ThreadInfo;
  experiments: ExperimentRecord[];
  /** The thread's best kept experiment, or where it started when nothing was kept yet. */
  head: ExperimentRecord | undefined;
  /** Experiments since the head last improved (cancelled ones do not count). */
  stale: number;
  pending: number;
}

export function choose(state: PolicyState): Choice {
  const byId = new Map(state.finished.map((e) => [e.id, e]));
  const threads = threadViews(state.finished, state.pending, state.direction, state.best);
  return (
    combination(state, threads, byId) ??
    debugging(state, threads, byId) ??
    drafting(state, threads) ??
    improvement(state, threads)
  );
}

/**
 * The threads of a search, in the order they started: each one's experiments, head, staleness and
 * pending proposals. A thread whose first experiment's parent is unknown starts from `fallback`.
 */
export function threadViews(
  finished: readonly ExperimentRecord[],
  pending: readonly Pick<PendingChoice, 'thread' | 'parent'>[],
  direction: Direction,
  fallback?: ExperimentRecord,
): ThreadView[] {
  const byId = new Map(finished.map((e) => [e.id, e]));
  const views = new Map<string, ThreadView>();
  const view = (id: string, start: ExperimentRecord | undefined): ThreadView => {
    let v = views.get(id);
    if (!v) {
      v = { info: { id }, experiments: [], head: start, stale: 0, pending: 0 };
      views.set(id, v);
    }
    return v;
  };
  for (const e of finished) {
    if (e.verdict.kind === 'baseline' || e.thread === 'main') continue;
    const v = view(e.thread, byId.get(e.parent ?? '') ?? fallback);
    if (v.experiments.length === 0) v.info.focus = e.hypothesis;
    v.experiments.push(e);
    if (e.verdict.kind === 'kept' && e.mean !== undefined && (v.head?.mean === undefined || !isBetter(v.head.mean, e.mean, direction))) {
      v.head = e;
      v.stale = 0;
    } else if (e.verdict.kind !== 'cancelled') {
      v.stale++;
    }
  }
  for (const p of pending) {
    if (p.thread === 'main') continue;
    view(p.thread, byId.get(p.parent) ?? fallback).pending++;
  }
  return [...views.values()];
}

/** Whether the policy still extends a thread: not stale, or something of it still pending. */
export function isOpen(t: ThreadView): boolean {
  return t.stale < STALE_AFTER || t.pending > 0;
}

function ancestors(e: ExperimentRecord, byId: Map<string, ExperimentRecord>): Set<string> {
  const out = new Set<string>();
  for (let p = e.parent; p !== undefined && !out.has(p); p = byId.get(p)?.parent) out.add(p);
  return out;
}

/** Two threads that each found an improvement the other lacks: bring the other's into the best. */
function combination(state: PolicyState, threads: ThreadView[], byId: Map<string, ExperimentRecord>): Choice | undefined {
  if (state.pending.some((p) => p.intent === 'combine')) return undefined;
  const best = state.best;
  if (best.verdict.kind !== 'kept') return undefined;
  const bestAncestors = ancestors(best, byId);
  const tried = (a: string, b: string) =>
    [...state.finished.map((e) => ({ parent: e.parent, other: e.other, intent: e.intent })), ...state.pending].some(
      (x) => x.intent === 'combine' && ((x.parent === a && x.other === b) || (x.parent === b && x.other === a)),
    );
  const candidates = threads
    .flatMap((t) => (t.head ? [t.head] : []))
    .filter((h) => h.verdict.kind === 'kept' && h.id !== best.id && !bestAncestors.has(h.id) && !ancestors(h, byId).has(best.id))
    .filter((h) => !tried(best.id, h.id))
    .sort((a, b) => (isBetter(a.mean!, b.mean!, state.direction) ? -1 : 1));
  const other = candidates[0];
  if (!other) return undefined;
  return { parent: best, thread: threadOf(best, threads), intent: { kind: 'combine', other } };
}

/** The latest experiment of a thread crashed or did not apply: ask for a fix. */
function debugging(state: PolicyState, threads: ThreadView[], byId: Map<string, ExperimentRecord>): Choice | undefined {
  const fixed = new Set([...state.finished.filter((e) => e.intent === 'debug').map((e) => e.other), ...state.pending.filter((p) => p.intent === 'debug').map((p) => p.other)]);
  for (const t of threads) {
    const last = t.experiments[t.experiments.length - 1];
    if (!last || !isOpen(t) || fixed.has(last.id) || !debuggable(last) || debugDepth(last, byId) >= MAX_DEBUG_DEPTH) continue;
    const parent = byId.get(last.parent ?? '');
    if (!parent || parent.mean === undefined) continue;
    if (last.intent === 'debug' && state.random() >= DEBUG_AGAIN_PROBABILITY) continue;
    return { parent, thread: t.info, intent: { kind: 'debug', failed: last } };
  }
  return undefined;
}

function debuggable(e: ExperimentRecord): boolean {
  if (e.verdict.kind === 'failed') return true;
  // A patch git could not apply is worth a fix; a proposer's own failure or a forbidden file is not.
  return e.verdict.kind === 'rejected' && e.verdict.reason.startsWith('the patch does not apply');
}

function debugDepth(e: ExperimentRecord, byId: Map<string, ExperimentRecord>): number {
  let depth = 0;
  for (let x: ExperimentRecord | undefined = e; x?.intent === 'debug'; x = byId.get(x.other ?? '')) depth++;
  return depth;
}

/** Room for another line of research: start one from the best node. */
function drafting(state: PolicyState, threads: ThreadView[]): Choice | undefined {
  const open = threads.filter(isOpen);
  if (open.length >= state.maxThreads) return undefined;
  const used = new Set(threads.map((t) => t.info.id));
  let n = threads.length + 1;
  while (used.has(`t${n}`)) n++;
  return { parent: state.best, thread: { id: `t${n}` }, intent: { kind: 'draft', others: open.map((t) => t.info) } };
}

/** Extend the head of the open thread with the highest upper-confidence bound on its gain. */
function improvement(state: PolicyState, threads: ThreadView[]): Choice {
  const open = threads.filter(isOpen);
  // Every thread went stale while others were pending: fall back to the best node.
  if (open.length === 0) return { parent: state.best, thread: threadOf(state.best, threads), intent: { kind: 'improve' } };
  // While the baseline still runs (proposals made ahead of it) no thread has a gain yet.
  const reference = state.finished[0]?.mean;
  const sign = state.direction === 'lower' ? 1 : -1;
  const gains = open.map((t) => (reference === undefined || t.head?.mean === undefined ? 0 : Math.max(0, sign * (reference - t.head.mean))));
  const top = Math.max(...gains) || 1;
  const total = open.reduce((n, t) => n + t.experiments.length + t.pending, 0);
  let chosen = open[0]!;
  let bestScore = -Infinity;
  open.forEach((t, i) => {
    const tries = t.experiments.length + t.pending;
    const score = gains[i]! / top + EXPLORATION * Math.sqrt(Math.log(total + 1) / (tries + 1)) + 1e-9 * state.random();
    if (score > bestScore) {
      bestScore = score;
      chosen = t;
    }
  });
  const parent = chosen.head?.mean !== undefined ? chosen.head : state.best;
  return { parent, thread: chosen.info, intent: { kind: 'improve' } };
}

function threadOf(e: ExperimentRecord, threads: ThreadView[]): ThreadInfo {
  return threads.find((t) => t.info.id === e.thread)?.info ?? { id: e.thread };
}
