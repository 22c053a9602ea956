// Whether a candidate truly beats its parent, given the noise measured on the baseline.
// The rule is a one-sided z-test: the improvement must exceed Z standard errors of the difference
// of the two means, with the per-run noise estimated from the baseline's repeats.
import type { Direction, ExperimentRecord } from '../types';

/** About 97.7% one-sided confidence. */
export const Z = 2;

export interface Sample {
  mean: number;
  n: number;
}

export type Decision =
  | { kind: 'better'; improvement: number; threshold: number }
  | { kind: 'close'; improvement: number; threshold: number }
  | { kind: 'not-better'; improvement: number; threshold: number };

/**
 * `noise` is the standard deviation of one run. With no measurable noise (a deterministic run)
 * any strict improvement counts, up to floating-point dust.
 */
export function decide(candidate: Sample, parent: Sample, noise: number, direction: Direction): Decision {
  const improvement = direction === 'lower' ? parent.mean - candidate.mean : candidate.mean - parent.mean;
  const dust = 1e-9 * Math.max(1, Math.abs(parent.mean));
  const threshold = Math.max(dust, Z * noise * Math.sqrt(1 / candidate.n + 1 / parent.n));
  if (improvement > threshold) return { kind: 'better', improvement, threshold };
  // Worth more seeds when it is on the right side but within the noise.
  if (improvement > 0) return { kind: 'close', improvement, threshold };
  return { kind: 'not-better', improvement, threshold };
}

/** Is a better than b, in the metric's direction? */
export function isBetter(a: number, b: number, direction: Direction): boolean {
  return direction === 'lower' ? a < b : a > b;
}

/** The best verified result: the baseline or a kept experiment with the best mean. */
export function bestExperiment(experiments: readonly ExperimentRecord[], direction: Direction): ExperimentRecord | undefined {
  let best: ExperimentRecord | undefined;
  for (const e of experiments) {
    if (e.mean === undefined || (e.verdict.kind !== 'kept' && e.verdict.kind !== 'baseline')) continue;
    if (!best || isBetter(e.mean, best.mean!, direction)) best = e;
  }
  return best;
}
