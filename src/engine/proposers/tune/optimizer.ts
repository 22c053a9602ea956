// Chooses the next point to try from every point tried so far. Pure and deterministic given
// `random`; it never repeats a vector already tried or still running.
//
// The model is additive: the loss is a smooth curve per knob, summed, each curve a weighted set of
// Gaussian bumps along the knob's unit axis, fitted jointly by Bayesian linear regression (so it
// knows how sure it is). Additive suits how the search moves: every child changes 1 to 3 knobs of
// its parent, so the data say most about each knob's own effect, and a model that splits "good"
// from "bad" by absolute value (TPE) is misled once the parent moves: every child of a better
// parent looks good, whatever its change did. The next point maximises expected improvement over
// the parent among candidates that change 1 to 3 of its knobs, drawn both far and near.

import { fromUnit, toUnit, type Dimension } from './space.js';

export interface Observation {
  /** Values of every dimension, as written in the files. */
  values: readonly number[];
  /** Loss: the metric oriented so that lower is better; absent when the run failed. */
  loss?: number;
}

export interface SuggestRequest {
  dims: readonly Dimension[];
  observations: readonly Observation[];
  /** Value vectors of proposals still running. */
  pending: readonly (readonly number[])[];
  /** The parent's values: every candidate changes a few of them. */
  parent: readonly number[];
  random: () => number;
  /** Most coordinates one proposal changes (default 3). */
  maxChanged?: number;
  /** Observations (the baseline included) below which the optimiser explores at random (default 4). */
  startup?: number;
  /** Candidates the model scores per suggestion (default 256). */
  candidates?: number;
}

export interface Suggestion {
  values: number[];
  /** Indices of the dimensions that differ from the parent. */
  changed: number[];
  strategy: 'explore' | 'model';
}

/** A vector's identity for "already tried": the values as they are written. */
export function vectorKey(values: readonly number[]): string {
  return values.map((v) => String(v)).join(',');
}

const BUMPS = 9;
const ARD_ITERATIONS = 12;
/** A weak prior on the intercept: the level of the loss is not in question, its shape is. */
const INTERCEPT_ALPHA = 0.01;
/** Noise variance floor, in normal-score units: ranks of noisy runs are never exact. */
const MIN_NOISE = 0.01;
const BUMP_WIDTH = 0.14;
/** Standard deviations of a candidate's step in unit space; 0 draws uniformly. */
const STEP_SIZES = [0.03, 0.08, 0.08, 0.2, 0.2, 0.4, 0];
const EXPLORE_SIGMA = 0.25;

export function suggest(req: SuggestRequest): Suggestion | null {
  const { dims, observations, pending, parent, random } = req;
  const D = dims.length;
  if (D === 0) return null;
  const maxChanged = Math.max(1, Math.min(req.maxChanged ?? 3, D));
  const startup = req.startup ?? 4;
  const seen = new Set<string>([...observations.map((o) => vectorKey(o.values)), ...pending.map(vectorKey)]);
  seen.add(vectorKey(parent));
  const parentUnit = parent.map((v, d) => toUnit(dims[d]!, v));

  const pickDims = (k: number): number[] => {
    const order = [...Array(D).keys()];
    for (let i = D - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order.slice(0, k);
  };
  /** The parent with some coordinates moved, snapped to writable values; null if nothing moved
   *  or the result was tried already. */
  const build = (moves: ReadonlyMap<number, number>): number[] | null => {
    const values = [...parent];
    for (const [d, u] of moves) {
      const dim = dims[d]!;
      values[d] = fromUnit(dim, u);
      // A move of an integer knob moves it at least one step: small steps would otherwise round
      // back to the parent's value, and a knob like a width would only ever make big jumps.
      if (values[d] === parent[d] && dim.kind === 'int' && u !== parentUnit[d]) {
        const up = u > parentUnit[d]!;
        const next = dim.pow2 ? (up ? parent[d]! * 2 : parent[d]! / 2) : parent[d]! + (up ? 1 : -1);
        if (next >= dim.low && next <= dim.high) values[d] = next;
      }
    }
    return values.some((v, d) => v !== parent[d]) && !seen.has(vectorKey(values)) ? values : null;
  };
  const changedOf = (values: readonly number[]): number[] => values.flatMap((v, d) => (v !== parent[d] ? [d] : []));

  // Random steps around the parent; uniform draws when those keep landing on tried points.
  const explore = (): Suggestion | null => {
    for (let attempt = 0; attempt < 128; attempt++) {
      const k = 1 + Math.floor(random() * Math.min(2, maxChanged));
      const near = attempt < 64;
      const moves = pickDims(k).map((d) => [d, near ? clamp01(parentUnit[d]! + EXPLORE_SIGMA * gaussian(random)) : random()] as const);
      const values = build(new Map(moves));
      if (values) return { values, changed: changedOf(values), strategy: 'explore' };
    }
    return null;
  };

  const finite = observations.filter((o) => o.loss !== undefined && Number.isFinite(o.loss));
  if (observations.length < startup || finite.length < 2) return explore();

  // Failed runs are as bad as the worst run seen; running ones as an average run, so the model
  // neither chases nor repeats them.
  const losses = finite.map((o) => o.loss!);
  const worst = Math.max(...losses);
  const average = losses.reduce((a, b) => a + b, 0) / losses.length;
  const unit = (values: readonly number[]): number[] => values.map((v, d) => toUnit(dims[d]!, v));
  const xs = [...observations.map((o) => unit(o.values)), ...pending.map(unit)];
  const ys = [...observations.map((o) => (o.loss !== undefined && Number.isFinite(o.loss) ? o.loss : worst)), ...pending.map(() => average)];
  const model = AdditiveModel.fit(xs, normalScores(ys));

  const base = model.predict(parentUnit).mean;
  let best: { values: number[]; score: number } | null = null;
  const n = req.candidates ?? 256;
  for (let c = 0; c < n; c++) {
    const r = random();
    const k = Math.min(maxChanged, r < 0.3 ? 1 : r < 0.7 ? 2 : 3);
    // Steps of several sizes around the parent, and now and then anywhere: a model fitted to few
    // runs is unsure far away, and expected improvement alone would chase that.
    const step = STEP_SIZES[Math.floor(random() * STEP_SIZES.length)]!;
    const moves = new Map<number, number>();
    for (const d of pickDims(k)) moves.set(d, step > 0 ? clamp01(parentUnit[d]! + step * gaussian(random)) : random());
    const values = build(moves);
    if (!values) continue;
    const p = model.predict(unit(values));
    const score = expectedImprovement(base - p.mean, p.sd);
    if (!best || score > best.score) best = { values, score };
  }
  if (best) return { values: best.values, changed: changedOf(best.values), strategy: 'model' };
  return explore();
}

/**
 * Losses replaced by normal scores of their ranks. What matters is which runs beat which; on
 * raw values a few disastrous runs would set the scale and the differences near the best,
 * the ones that decide the next step, would look like noise.
 */
export function normalScores(ys: readonly number[]): number[] {
  const order = ys.map((y, i) => [y, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(ys.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
    const score = probit((i + j) / 2 / order.length + 0.5 / order.length);
    for (let k = i; k <= j; k++) out[order[k]![1]] = score;
    i = j + 1;
  }
  return out;
}

/** The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
function probit(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const q0 = Math.min(Math.max(p, 1e-12), 1 - 1e-12);
  if (q0 < 0.02425 || q0 > 1 - 0.02425) {
    const q = Math.sqrt(-2 * Math.log(Math.min(q0, 1 - q0)));
    const x = (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
    return q0 < 0.5 ? x : -x;
  }
  const q = q0 - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** E[max(0, improvement)] for a Gaussian with the given mean improvement and spread. */
function expectedImprovement(mean: number, sd: number): number {
  if (sd <= 1e-12) return Math.max(0, mean);
  const z = mean / sd;
  return mean * normalCdf(z) + sd * Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}

/**
 * loss(x) ≈ c + Σ_d Σ_j w_dj · exp(−(x_d − center_j)² / 2·width²), with a Gaussian prior on the
 * weights: one prior strength per knob and the noise level, all set by maximising the marginal
 * likelihood, so the model neither overfits a few runs nor ignores a clear trend.
 */
export class AdditiveModel {
  private constructor(
    private readonly dims: number,
    private readonly yMean: number,
    private readonly yScale: number,
    private readonly weights: Float64Array,
    /** Cholesky factor of the posterior precision. */
    private readonly chol: Float64Array,
    private readonly noise: number,
  ) {}

  static features(x: readonly number[]): Float64Array {
    const f = new Float64Array(x.length * BUMPS + 1);
    f[0] = 1;
    x.forEach((u, d) => {
      for (let j = 0; j < BUMPS; j++) {
        const c = j / (BUMPS - 1);
        f[1 + d * BUMPS + j] = Math.exp(-0.5 * ((u - c) / BUMP_WIDTH) ** 2);
      }
    });
    return f;
  }

  static fit(xs: readonly (readonly number[])[], ys: readonly number[]): AdditiveModel {
    const n = ys.length;
    const dims = xs[0]!.length;
    const yMean = ys.reduce((a, b) => a + b, 0) / n;
    const yScale = Math.sqrt(ys.reduce((a, y) => a + (y - yMean) ** 2, 0) / n) || 1;
    const y = ys.map((v) => (v - yMean) / yScale);
    const phi = xs.map((x) => AdditiveModel.features(x));
    const P = phi[0]!.length;
    // Gram matrix ΦᵀΦ and Φᵀy, shared by every grid point.
    const gram = new Float64Array(P * P);
    const phiY = new Float64Array(P);
    for (let i = 0; i < n; i++) {
      const f = phi[i]!;
      for (let a = 0; a < P; a++) {
        if (f[a]! < 1e-12) continue;
        phiY[a]! += f[a]! * y[i]!;
        for (let b = 0; b < P; b++) gram[a * P + b]! += f[a]! * f[b]!;
      }
    }
    // Automatic relevance determination (MacKay's fixed-point updates of the evidence): each knob
    // gets its own prior strength, so a knob that does not matter gets a flat, confident curve
    // and stops attracting proposals, and the noise level is learned along with them.
    const alpha = new Float64Array(dims).fill(1);
    let noise = 0.1;
    let fit = AdditiveModel.solve(gram, phiY, P, alpha, noise);
    for (let iter = 0; iter < ARD_ITERATIONS; iter++) {
      const inv = fit.covarianceDiagonal();
      let used = 1 - INTERCEPT_ALPHA * inv[0]!;
      for (let d = 0; d < dims; d++) {
        let gamma = 0;
        let norm = 0;
        for (let j = 0; j < BUMPS; j++) {
          const k = 1 + d * BUMPS + j;
          gamma += 1 - alpha[d]! * inv[k]!;
          norm += fit.weights[k]! ** 2;
        }
        used += gamma;
        alpha[d] = Math.min(1e4, Math.max(1e-2, Math.max(gamma, 1e-6) / Math.max(norm, 1e-12)));
      }
      let sse = 0;
      for (let i = 0; i < n; i++) sse += (y[i]! - dot(phi[i]!, fit.weights)) ** 2;
      noise = Math.min(1, Math.max(MIN_NOISE, sse / Math.max(n - used, 1)));
      fit = AdditiveModel.solve(gram, phiY, P, alpha, noise);
    }
    return new AdditiveModel(dims, yMean, yScale, fit.weights, fit.chol, noise);
  }

  /** Posterior of the weights for given prior strengths (per knob) and noise variance. */
  private static solve(gram: Float64Array, phiY: Float64Array, P: number, alpha: Float64Array, noise: number) {
    const A = new Float64Array(P * P);
    for (let k = 0; k < P * P; k++) A[k] = gram[k]! / noise;
    A[0]! += INTERCEPT_ALPHA;
    for (let a = 1; a < P; a++) A[a * P + a]! += alpha[Math.floor((a - 1) / BUMPS)]!;
    const chol = cholesky(A, P);
    const weights = cholSolve(chol, P, phiY.map((v) => v / noise));
    return {
      weights,
      chol,
      /** diag(A⁻¹) = column sums of squares of L⁻¹. */
      covarianceDiagonal(): Float64Array {
        const diag = new Float64Array(P);
        const e = new Float64Array(P);
        for (let j = 0; j < P; j++) {
          e.fill(0);
          e[j] = 1;
          const col = forwardSolve(chol, P, e); // column j of L⁻¹
          for (let i = j; i < P; i++) diag[j]! += col[i]! ** 2;
        }
        return diag;
      },
    };
  }

  /** The loss the model expects at x, and how unsure it is about that expectation. */
  predict(x: readonly number[]): { mean: number; sd: number } {
    if (x.length !== this.dims) throw new Error('wrong number of dimensions');
    const f = AdditiveModel.features(x);
    const P = f.length;
    // Variance of the mean: fᵀ A⁻¹ f = |L⁻¹ f|².
    const z = forwardSolve(this.chol, P, f);
    return { mean: this.yMean + this.yScale * dot(f, this.weights), sd: this.yScale * Math.sqrt(dot(z, z)) };
  }

  /** The noise level the fit settled on, in the loss's units. */
  get noiseSd(): number {
    return this.yScale * Math.sqrt(this.noise);
  }
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function cholesky(A: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      L[i * n + j] = i === j ? Math.sqrt(Math.max(s, 1e-12)) : s / L[j * n + j]!;
    }
  }
  return L;
}

function forwardSolve(L: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * n + k]! * z[k]!;
    z[i] = s / L[i * n + i]!;
  }
  return z;
}

function cholSolve(L: Float64Array, n: number, b: ArrayLike<number>): Float64Array {
  const z = forwardSolve(L, n, b);
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < n; k++) s -= L[k * n + i]! * x[k]!;
    x[i] = s / L[i * n + i]!;
  }
  return x;
}

function clamp01(u: number): number {
  return Math.min(1, Math.max(0, u));
}

function gaussian(random: () => number): number {
  const u1 = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * random());
}

function normalCdf(z: number): number {
  return 0.5 * (1 + erf(z / Math.SQRT2));
}

// Abramowitz and Stegun 7.1.26: accurate to 1e-7, ample for an acquisition function.
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}
