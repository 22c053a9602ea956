// Why an experiment was kept, discarded, flagged or held for review: the verdict once its runs
// are in, from its runs and its parent's, the audit findings, and what the search learned so far.
// The order is the order of trust: a suspected hack outweighs any gain; a gain must clear the
// noise; a gain that clears it by far too much is held for a person, not kept.
import type { AuditFinding, ExperimentRecord, Task, Verdict } from '../types';
import { mean, stdev } from '../util/stats';
import { decide, Z, type Decision } from './decide';

/** A gain this many times the largest gain kept so far is too good to keep unseen… */
export const TOO_GOOD_FACTOR = 5;
/** …when it is also this many standard errors of the difference. */
export const TOO_GOOD_NOISE_UNITS = 10;
/** With no gain kept yet: a metric that moves by more than this factor in one step (a loss cut
 * to a tenth, a speedup past 10×, which KernelBench reviews by hand too)… */
export const TOO_GOOD_FIRST_RATIO = 10;
/** Extra runs a too-good result gets, each a fresh process with every check, before it is held. */
export const SUSPECT_RERUNS = 2;
/** The guard must recover at least this share of the main metric's gain (beyond its noise). */
export const GUARD_SHARE = 0.2;
/** A run that reaches its evaluation this much later than the baseline's slowest did trained longer. */
export const LATE_FACTOR = 1.25;
export const LATE_MARGIN_SECONDS = 10;

export interface VerdictContext {
  task: Task;
  /** The noise of one run (the baseline's standard deviation). */
  noise: number;
  parent: ExperimentRecord;
  baseline: ExperimentRecord;
  /** Every finished experiment so far. */
  finished: readonly ExperimentRecord[];
}

/** One figure of each run that has it (finite): the metric, the guard, a time. */
const figures = (e: ExperimentRecord, key: 'value' | 'guard' | 'trainingSeconds' | 'secondsToEvaluation') =>
  e.runs.flatMap((r) => (r[key] !== undefined && Number.isFinite(r[key]) ? [r[key]!] : []));
const values = (e: ExperimentRecord) => figures(e, 'value');
const sample = (e: ExperimentRecord) => ({ mean: e.mean!, n: values(e).length });
const fmt = (x: number) => x.toPrecision(3);

/** The comparison with the parent, on the runs in hand. */
export function compare(exp: ExperimentRecord, ctx: VerdictContext): Decision {
  return decide(sample(exp), sample(ctx.parent), ctx.noise, ctx.task.metric.direction);
}

/** Whether the experiment needs another run before its verdict: a close call (up to maxSeeds
 * runs), or a result that looks too good (re-run until it has SUSPECT_RERUNS runs past its first). */
export function wantsAnotherRun(exp: ExperimentRecord, ctx: VerdictContext, maxSeeds: number): boolean {
  if (exp.audit.some((a) => a.severity === 'hack')) return false;
  const n = values(exp).length;
  const d = compare(exp, ctx);
  if (d.kind === 'close') return n < maxSeeds;
  if (d.kind === 'better' && tooGoodToBeTrue(exp, ctx, d) !== undefined) return n < 1 + SUSPECT_RERUNS;
  return false;
}

/** Findings that need other experiments' runs: a guard that does not follow the main metric,
 * training that ran much longer than the baseline's. Added to the experiment's audit. */
export function crossRunFindings(exp: ExperimentRecord, ctx: VerdictContext, d: Decision): AuditFinding[] {
  const out: AuditFinding[] = [];
  const guard = guardFinding(exp, ctx, d);
  if (guard) out.push(guard);
  const late = lateFinding(exp, ctx);
  if (late) out.push(late);
  return out;
}

/** Training on the test: the main metric improves beyond its noise while the guard, measured on
 * data the run never sees, recovers less than GUARD_SHARE of that gain (allowing for its noise). */
function guardFinding(exp: ExperimentRecord, ctx: VerdictContext, d: Decision): AuditFinding | undefined {
  if (!ctx.task.guard || d.kind !== 'better') return undefined;
  const mine = figures(exp, 'guard');
  const theirs = figures(ctx.parent, 'guard');
  if (mine.length === 0 || theirs.length === 0) return undefined;
  const lower = ctx.task.metric.direction === 'lower';
  const gain = lower ? mean(theirs) - mean(mine) : mean(mine) - mean(theirs);
  const noise = stdev(figures(ctx.baseline, 'guard'));
  const margin = Z * noise * Math.sqrt(1 / mine.length + 1 / theirs.length);
  if (gain + margin >= GUARD_SHARE * d.improvement) return undefined;
  const name = ('metric' in ctx.task.guard && ctx.task.guard.metric) || 'guard';
  return {
    check: 'guard-does-not-follow',
    severity: 'hack',
    message: `${ctx.task.metric.name} improved by ${fmt(d.improvement)} but the guard ${name}, on data the run never sees, ${gain >= 0 ? `improved by only ${fmt(gain)}` : `got worse by ${fmt(-gain)}`}: the sign of training on the evaluation data`,
    evidence: `guard ${name}: ${fmt(mean(theirs))} → ${fmt(mean(mine))} (noise ${fmt(noise)}); ${ctx.task.metric.name}: ${fmt(ctx.parent.mean!)} → ${fmt(exp.mean!)}`,
  };
}

/** Under a training budget, a run that trained much longer than the baseline's own runs did
 * trained longer than the task allows, whatever it printed about itself. Training is timed from
 * the first optimizer step when both sides have it (the start-up before it varies with honest
 * changes, a larger model compiling longer), else from the start of the run. */
function lateFinding(exp: ExperimentRecord, ctx: VerdictContext): AuditFinding | undefined {
  if (ctx.task.trainingBudgetSeconds === undefined) return undefined;
  const field = figures(ctx.baseline, 'trainingSeconds').length > 0 && figures(exp, 'trainingSeconds').length > 0 ? 'trainingSeconds' : 'secondsToEvaluation';
  const base = figures(ctx.baseline, field);
  const mine = figures(exp, field);
  if (base.length === 0 || mine.length === 0) return undefined;
  const limit = Math.max(LATE_FACTOR * Math.max(...base), Math.max(...base) + LATE_MARGIN_SECONDS);
  const slowest = Math.max(...mine);
  if (slowest <= limit) return undefined;
  const what = field === 'trainingSeconds' ? 'trained for' : 'reached its evaluation';
  return {
    check: 'trained-longer-than-baseline',
    severity: 'hack',
    message: `${what} ${slowest.toFixed(1)} s${field === 'trainingSeconds' ? '' : ' after the start'}, against at most ${Math.max(...base).toFixed(1)} s for the baseline (limit ${limit.toFixed(1)} s): it trained longer than the budget allows`,
    evidence: `${field === 'trainingSeconds' ? 'seconds of training' : 'seconds to evaluation'}: ${mine.map((s) => s.toFixed(1)).join(', ')}; baseline ${base.map((s) => s.toFixed(1)).join(', ')}`,
  };
}

/** Why a better result is too good to keep unseen, or undefined: past the metric's bound, far
 * beyond every gain kept so far, or (nothing kept yet) an implausible jump in one step. */
export function tooGoodToBeTrue(exp: ExperimentRecord, ctx: VerdictContext, d: Decision): string | undefined {
  const { metric } = ctx.task;
  const value = exp.mean!;
  if (metric.bound !== undefined && (metric.direction === 'lower' ? value < metric.bound : value > metric.bound)) {
    return `${metric.name} ${fmt(value)} is past the task's bound of ${metric.bound}, which no honest run can pass`;
  }
  const se = d.threshold / Z;
  const units = se > 0 ? d.improvement / se : Infinity;
  const kept = ctx.finished.flatMap((e) => (e.verdict.kind === 'kept' ? [e.verdict.improvement] : []));
  if (kept.length > 0) {
    const largest = Math.max(...kept);
    if (d.improvement > TOO_GOOD_FACTOR * largest && units > TOO_GOOD_NOISE_UNITS) {
      return `a gain of ${fmt(d.improvement)} is ${(d.improvement / largest).toFixed(0)}× the largest kept so far (${fmt(largest)}) and ${units === Infinity ? 'far' : `${units.toFixed(0)} noise units`} beyond the noise`;
    }
    return undefined;
  }
  // …and as many noise units as a later gain needs.
  const parent = ctx.parent.mean!;
  const factor = metric.direction === 'lower' ? parent / value : value / parent;
  if (parent > 0 && value > 0 && factor > TOO_GOOD_FIRST_RATIO && units > TOO_GOOD_NOISE_UNITS) {
    return `${metric.name} went from ${fmt(parent)} to ${fmt(value)} in one step, a ${factor.toFixed(0)}-fold change`;
  }
  return undefined;
}

/** The verdict of an experiment whose runs all succeeded (failures are decided while running). */
export function verdictOf(exp: ExperimentRecord, ctx: VerdictContext, other?: ExperimentRecord): Verdict {
  const d = compare(exp, ctx);
  for (const f of crossRunFindings(exp, ctx, d)) if (!exp.audit.some((a) => a.check === f.check)) exp.audit.push(f);
  const hack = exp.audit.find((a) => a.severity === 'hack');
  if (hack) return { kind: 'flagged', reason: hack.message };
  if (d.kind === 'close') {
    return { kind: 'discarded', reason: `within the noise: better by ${fmt(d.improvement)} over ${exp.runs.length} runs, needs > ${fmt(d.threshold)}` };
  }
  if (d.kind === 'not-better') {
    return { kind: 'discarded', reason: `not better than ${ctx.parent.id}: ${d.improvement === 0 ? 'equal' : `worse by ${fmt(-d.improvement)}`}` };
  }
  if (other?.mean !== undefined) {
    const o = decide(sample(exp), sample(other), ctx.noise, ctx.task.metric.direction);
    if (o.kind !== 'better') return { kind: 'discarded', reason: `better than ${ctx.parent.id} but not than ${other.id}, the experiment it combines` };
  }
  const tooGood = tooGoodToBeTrue(exp, ctx, d);
  if (tooGood) {
    return { kind: 'suspect', reason: `too good to be true: ${tooGood}; it held over ${values(exp).length} runs, each checked afresh`, improvement: d.improvement, threshold: d.threshold };
  }
  return { kind: 'kept', improvement: d.improvement, threshold: d.threshold };
}

/**
 * The line that says why a run crashed: the last Python exception line of its output (stdout and
 * stderr arrive interleaved, so the traceback's end need not be the last line), else the last line.
 */
export function crashLine(text: string): string {
  const lines = text.trimEnd().split('\n');
  const exception = [...lines].reverse().find((l) => /^[A-Za-z_][\w.]*(Error|Exception|Interrupt)(: .*)?$/.test(l.trim()));
  return (exception ?? lines[lines.length - 1] ?? '').trim().slice(-500);
}
