// The search space: one dimension per knob, mapped to [0, 1] so the optimiser treats a learning
// rate, a dropout and a batch size alike. The scale and the bounds follow from the name and
// the default value, the way a person would guess them.

import { nameWords, type Param, type ParamKind } from './params.js';

/**
 * - `log`: the value's logarithm is uniform (learning rates, decays, sizes).
 * - `gap`: the logarithm of `1 − value` is uniform (momentum and Adam betas near 1).
 * - `linear`: the value itself (probabilities, fractions, signed or zero values).
 */
export type Scale = 'log' | 'gap' | 'linear';

export interface Dimension {
  name: string;
  kind: ParamKind;
  scale: Scale;
  /** Bounds of the value (for `gap`, too: the gap runs from 1 − low down to 1 − high). */
  low: number;
  high: number;
  /** The value the space was built around (the baseline's). */
  base: number;
  /** Integers that were a power of two stay powers of two (sizes, widths, buckets). */
  pow2: boolean;
}

const LR_WORDS = ['lr', 'learning'];
const LOG_WORDS = ['decay', 'wd', 'eps', 'epsilon', 'lambda', 'l1', 'l2', 'reg', 'scale', 'std', 'temperature',
  'temp', 'clip', 'norm', 'init', 'lr', 'learning', 'weight', 'tau', 'coef', 'coeff'];
const MOMENTUM_WORDS = ['momentum', 'beta', 'beta1', 'beta2', 'ema', 'rho', 'betas', 'mom'];
const FRACTION_WORDS = ['dropout', 'drop', 'prob', 'p', 'frac', 'fraction', 'ratio', 'pct', 'percent', 'keep',
  'smoothing', 'alpha', 'gamma', 'mix', 'mixup', 'cutmix', 'label'];

/** How far the search may go from the default, as a factor either way, on a log scale. */
const LOG_RANGE = 10;
const LR_LOG_RANGE = 30;

export function dimensionFor(p: Pick<Param, 'name' | 'kind' | 'value'>): Dimension {
  const words = nameWords(p.name.replace(/^.*:/, '').replace(/#\d+$/, ''));
  const has = (list: readonly string[]): boolean => words.some((w) => list.includes(w));
  const v = p.value;
  const dim = (scale: Scale, low: number, high: number, pow2 = false): Dimension => ({
    name: p.name, kind: p.kind, scale, low, high, base: v, pow2,
  });

  if (p.kind === 'int') {
    if (v === 0) return dim('linear', 0, 8);
    if (v < 0) return dim('linear', Math.min(3 * v, v - 4), 0);
    const isPow2 = v >= 16 && Number.isInteger(Math.log2(v));
    if (v >= 16) return dim('log', Math.max(1, Math.round(v / LOG_RANGE)), Math.round(v * LOG_RANGE), isPow2);
    return dim('linear', 1, Math.max(2 * v, v + 4));
  }

  // Floats.
  const isMomentum = has(MOMENTUM_WORDS);
  const isFraction = has(FRACTION_WORDS);
  if (isMomentum && v >= 0.5 && v < 1) {
    // Search the gap to 1: 0.9 → 0.99 is as big a step as 0.99 → 0.999.
    const gap = 1 - v;
    return dim('gap', 1 - Math.min(0.5, gap * LOG_RANGE), 1 - Math.max(1e-5, gap / LOG_RANGE));
  }
  if ((isMomentum || isFraction) && v >= 0 && v <= 1) {
    return dim('linear', 0, v <= 0.25 ? Math.min(1, Math.max(0.5, 3 * v)) : 1);
  }
  if (v > 0) {
    const range = has(LR_WORDS) ? LR_LOG_RANGE : LOG_RANGE;
    return dim('log', v / range, v * range);
  }
  if (v === 0) return dim('linear', 0, has(LOG_WORDS) ? 0.1 : 1);
  return dim('linear', v * 3, 0);
}

/** Position of a value in the dimension, in [0, 1] (clamped when the value lies outside). */
export function toUnit(d: Dimension, value: number): number {
  let u: number;
  if (d.scale === 'log') u = (Math.log(value) - Math.log(d.low)) / (Math.log(d.high) - Math.log(d.low));
  else if (d.scale === 'gap') {
    const [wide, narrow] = [Math.log(1 - d.low), Math.log(1 - d.high)];
    u = (wide - Math.log(1 - value)) / (wide - narrow);
  } else u = (value - d.low) / (d.high - d.low);
  return Number.isFinite(u) ? Math.min(1, Math.max(0, u)) : value <= d.low ? 0 : 1;
}

/** The value at a position, snapped to what is written in the file: integers (powers of two
 *  where the default was one), floats with three significant digits (two on the gap to 1). */
export function fromUnit(d: Dimension, u: number): number {
  const t = Math.min(1, Math.max(0, u));
  let v: number;
  if (d.scale === 'log') v = Math.exp(Math.log(d.low) + t * (Math.log(d.high) - Math.log(d.low)));
  else if (d.scale === 'gap') {
    const [wide, narrow] = [Math.log(1 - d.low), Math.log(1 - d.high)];
    v = 1 - Math.exp(wide - t * (wide - narrow));
  }
  else v = d.low + t * (d.high - d.low);
  return snap(d, v);
}

export function snap(d: Dimension, v: number): number {
  if (d.kind === 'int') {
    if (d.pow2 && v > 0) return Math.min(2 ** Math.floor(Math.log2(d.high)), Math.max(1, 2 ** Math.round(Math.log2(v))));
    return Math.min(Math.floor(d.high), Math.max(Math.ceil(d.low), Math.round(v)));
  }
  if (d.scale === 'gap') return Number((1 - Number((1 - v).toPrecision(2))).toPrecision(12));
  if (d.scale === 'linear') {
    // A hundredth of the range's order of magnitude, so a value near zero gets no spurious digits.
    const step = 10 ** (Math.floor(Math.log10(d.high - d.low || 1)) - 2);
    return Number((Math.round(v / step) * step).toPrecision(12));
  }
  return Number(v.toPrecision(3));
}

export function buildSpace(params: readonly Pick<Param, 'name' | 'kind' | 'value'>[]): Dimension[] {
  return params.map(dimensionFor);
}
