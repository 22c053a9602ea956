// The built-in `tune` proposer: finds the numeric knobs of the editable Python files and moves 1
// to 3 of them at a time, where a model of every run so far expects the most improvement (see
// optimizer.ts). It keeps no state a restart would lose: every proposal records its full
// parameter vector in `meta.params`, and the observations are rebuilt from `history` each call.

import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import { RatchetError } from '../../errors.js';
import type { ExperimentRecord, Proposal, ProposalContext, Proposer } from '../../types.js';
import { suggest, vectorKey, type Observation } from './optimizer.js';
import { findParamsInFiles, formatNumber, rewrite, type Param } from './params.js';
import { buildSpace, fromUnit, type Dimension } from './space.js';

export { findParams, findParamsInFiles, formatNumber, rewrite, type Param } from './params.js';
export { buildSpace, dimensionFor, fromUnit, toUnit, type Dimension } from './space.js';
export { AdditiveModel, suggest, type Observation, type Suggestion } from './optimizer.js';

/** Thrown by `propose` when the editable files hold no knob it can tune: a setup problem the
 *  user fixes, unlike `null`, which means every candidate has been tried. */
export class NoTunableParamsError extends RatchetError {
  constructor(files: readonly string[]) {
    super(
      `no tunable numeric hyper-parameters in ${files.length ? files.join(', ') : 'the editable files'}`,
      'tune changes ALL_CAPS constants (LEARNING_RATE = 3e-4), argparse defaults and config literals ' +
        "({'lr': 3e-4}, dict(lr=3e-4)) in the task's editable .py files; write the knobs that way, " +
        'add the file that holds them to `editable`, or replay your own patches with `--proposer replay --patches DIR`',
      'NO_TUNABLE_PARAMS',
    );
    this.name = 'NoTunableParamsError';
  }
}

/** What `meta` holds on a proposal from `tune` or `random`. */
export interface NumericMeta {
  /** The child's full vector: every knob's value, changed or not. */
  params: Record<string, number>;
  /** Names of the knobs changed relative to the parent. */
  changed: string[];
  strategy: string;
}

/** Everything a numeric proposer needs, rebuilt from the proposal context alone. */
export interface SearchState {
  dims: Dimension[];
  /** The parent's params, by the dimension's name. */
  parentParams: Map<string, Param>;
  parentFiles: Map<string, string>;
  parentValues: number[];
  observations: Observation[];
  /** Vectors of the proposals still running. */
  pending: number[][];
}

/** Parses experiments' files once each: a commit never changes, so neither do its params. */
export class ParamReader {
  private readonly cache = new Map<string, Promise<{ files: Map<string, string>; params: Param[] }>>();

  read(ctx: ProposalContext, e: ExperimentRecord): Promise<{ files: Map<string, string>; params: Param[] }> {
    // The commit names the content; the id alone could repeat across searches.
    const key = e.commit ?? `${ctx.task.repoRoot}\0${e.id}`;
    let hit = this.cache.get(key);
    if (!hit) {
      hit = (async () => {
        const files = new Map<string, string>();
        for (const path of pythonFiles(ctx.task.editable)) files.set(path, await ctx.readFile(e.id, path));
        return { files, params: findParamsInFiles([...files].map(([path, text]) => ({ path, text }))) };
      })();
      hit.catch(() => this.cache.delete(key));
      this.cache.set(key, hit);
    }
    return hit;
  }
}

function pythonFiles(editable: readonly string[]): string[] {
  return editable.filter((p) => /\.pyi?$/.test(p));
}

/** The metric oriented so that lower is better. */
function lossOf(ctx: ProposalContext, e: ExperimentRecord): number | undefined {
  if (e.mean === undefined || !Number.isFinite(e.mean)) return undefined;
  if (e.verdict.kind === 'flagged' || e.verdict.kind === 'rejected' || e.verdict.kind === 'failed') return undefined;
  return ctx.task.metric.direction === 'lower' ? e.mean : -e.mean;
}

function metaParams(meta: Record<string, unknown> | undefined): Record<string, number> | undefined {
  const params = meta?.['params'];
  if (typeof params !== 'object' || params === null) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(params)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

export async function loadState(ctx: ProposalContext, reader: ParamReader): Promise<SearchState> {
  const baseline = ctx.history.find((e) => e.parent === undefined) ?? ctx.parent;
  const base = await reader.read(ctx, baseline);
  const parent = baseline.id === ctx.parent.id ? base : await reader.read(ctx, ctx.parent);
  if (base.params.length === 0) throw new NoTunableParamsError(pythonFiles(ctx.task.editable));

  // Knobs are the baseline's; one another proposer removed from the parent is left alone.
  const parentParams = new Map(parent.params.map((p) => [p.name, p]));
  const kept = base.params.filter((p) => parentParams.has(p.name));
  if (kept.length === 0) throw new NoTunableParamsError(pythonFiles(ctx.task.editable));
  const dims = buildSpace(kept);
  const fill = (values: Record<string, number>): number[] => dims.map((d) => values[d.name] ?? d.base);

  const observations: Observation[] = [];
  for (const e of ctx.history) {
    if (e.verdict.kind === 'cancelled') continue;
    let values: number[] | undefined;
    const recorded = metaParams(e.meta);
    if (e.id === baseline.id) values = dims.map((d) => d.base);
    else if (recorded) values = fill(recorded);
    else if (e.commit !== undefined) {
      // Another proposer's experiment: its knobs are whatever its files say.
      try {
        const read = await reader.read(ctx, e);
        values = fill(Object.fromEntries(read.params.map((p) => [p.name, p.value])));
      } catch {
        values = undefined;
      }
    }
    if (values) observations.push({ values, loss: lossOf(ctx, e) });
  }
  const pending = ctx.pending.flatMap((p) => {
    const recorded = metaParams(p.meta);
    return recorded ? [fill(recorded)] : [];
  });
  return {
    dims,
    parentParams,
    parentFiles: parent.files,
    parentValues: dims.map((d) => parentParams.get(d.name)!.value),
    observations,
    pending,
  };
}

/** The proposal that sets the parent's knobs to `values`: a patch, a hypothesis in words, and
 *  the full vector in `meta.params`. */
export function makeProposal(state: SearchState, values: readonly number[], strategy: string): Proposal {
  const changed = state.dims.flatMap((d, i) => (values[i] !== state.parentValues[i] ? [i] : []));
  if (changed.length === 0) throw new Error('a proposal must change at least one value');
  const byName: Record<string, number> = {};
  state.dims.forEach((d, i) => (byName[d.name] = values[i]!));

  let patch = '';
  for (const [path, text] of state.parentFiles) {
    const params = [...state.parentParams.values()].filter((p) => p.file === path && byName[p.name] !== undefined);
    const next = rewrite(text, params, byName);
    if (next === text) continue;
    patch += createTwoFilesPatch(`a/${path}`, `b/${path}`, text, next, undefined, undefined, {
      context: 3,
      headerOptions: FILE_HEADERS_ONLY,
    });
  }
  const words = changed.map((i) => {
    const p = state.parentParams.get(state.dims[i]!.name)!;
    return `${p.name} ${p.text} → ${formatNumber(values[i]!, p.kind, p.text)}`;
  });
  const meta: NumericMeta = { params: byName, changed: changed.map((i) => state.dims[i]!.name), strategy };
  return { hypothesis: words.join(', '), patch, meta: { ...meta } };
}

export interface TuneOptions {
  /** Most knobs one proposal changes (default 3). */
  maxChanged?: number;
  /** Finished experiments (the baseline included) below which tune explores at random (default 4). */
  startup?: number;
  /** Candidates the model scores per proposal (default 256). */
  candidates?: number;
}

/**
 * Model-based hyper-parameter search over the knobs of the editable files.
 * `propose` returns null once no untried candidate can be found, and throws
 * `NoTunableParamsError` when the files hold no knob at all.
 */
export class TuneProposer implements Proposer {
  readonly name = 'tune';
  private readonly reader = new ParamReader();

  constructor(private readonly options: TuneOptions = {}) {}

  async propose(ctx: ProposalContext): Promise<Proposal | null> {
    ctx.signal.throwIfAborted();
    const state = await loadState(ctx, this.reader);
    ctx.signal.throwIfAborted();
    const s = suggest({
      dims: state.dims,
      observations: state.observations,
      pending: state.pending,
      parent: state.parentValues,
      random: () => ctx.random(),
      maxChanged: this.options.maxChanged,
      startup: this.options.startup,
      candidates: this.options.candidates,
    });
    return s ? makeProposal(state, s.values, s.strategy) : null;
  }
}

/** Uniform random search over the same knobs and space: every knob drawn afresh each time. */
export function randomVector(state: SearchState, random: () => number): number[] | null {
  const seen = new Set([...state.observations.map((o) => vectorKey(o.values)), ...state.pending.map(vectorKey)]);
  seen.add(vectorKey(state.parentValues));
  for (let attempt = 0; attempt < 64; attempt++) {
    const values = state.dims.map((d) => fromUnit(d, random()));
    if (!seen.has(vectorKey(values))) return values;
  }
  return null;
}
