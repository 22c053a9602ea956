import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { applyPatch } from 'diff';
import { RandomProposer } from '../../../src/engine/proposers/random.js';
import {
  findParams,
  loadState,
  NoTunableParamsError,
  ParamReader,
  TuneProposer,
  type NumericMeta,
} from '../../../src/engine/proposers/tune/index.js';
import { suggest, type Observation } from '../../../src/engine/proposers/tune/optimizer.js';
import { buildSpace, fromUnit } from '../../../src/engine/proposers/tune/space.js';
import type { ExperimentRecord, Proposal, ProposalContext, Proposer, Task, Verdict } from '../../../src/engine/types.js';
import { seededRandom } from '../../../src/engine/util/stats.js';

const run = promisify(execFile);

const TRAIN = `"""A training script."""
import os

SEED = 0
LEARNING_RATE = 1e-3     # peak learning rate
WEIGHT_DECAY = 0.1
BATCH_SIZE = 32
DROPOUT = 0.3
TRAIN_STEPS = 60_000

def main():
    print(f"val_bpb: {LEARNING_RATE:.4f}")
`;

/** The objective the tests optimise: a bowl with its bottom at a known point. */
function loss(k: Record<string, number>): number {
  return (
    Math.log10(k['LEARNING_RATE']! / 6e-3) ** 2 +
    0.5 * Math.log10(k['WEIGHT_DECAY']! / 0.02) ** 2 +
    0.1 * Math.log2(k['BATCH_SIZE']! / 128) ** 2 +
    2 * (k['DROPOUT']! - 0.05) ** 2 +
    0.2 * Math.log10(k['TRAIN_STEPS']! / 20000) ** 2
  );
}

function valuesOf(text: string): Record<string, number> {
  return Object.fromEntries(findParams('train.py', text).map((p) => [p.name, p.value]));
}

/** A search in memory: experiments' files, history and the loop's rule (keep if better). */
class Harness {
  readonly files = new Map<string, string>();
  readonly history: ExperimentRecord[] = [];
  readonly task: Task = {
    name: 't', repoRoot: '/repo', editable: ['train.py'], run: 'python3 train.py', cwd: '',
    metric: { name: 'val_bpb', direction: 'lower' }, budgetSeconds: 60, protected: [], repeats: 1,
  };
  best: ExperimentRecord;

  constructor(source = TRAIN, readonly random = seededRandom(7)) {
    this.files.set('e0', source);
    this.best = this.add('e0', undefined, null, loss(valuesOf(source)), { kind: 'baseline' });
  }

  add(id: string, parent: string | undefined, p: Proposal | null, mean: number | undefined, verdict: Verdict): ExperimentRecord {
    const e: ExperimentRecord = {
      id, parent, thread: 't', hypothesis: p?.hypothesis ?? 'baseline', proposer: 'tune', patch: p?.patch ?? '',
      commit: id, meta: p?.meta, runs: [], mean, spread: 0, audit: [], verdict,
      startedAt: '1970-01-01T00:00:00.000Z', finishedAt: '1970-01-01T00:00:00.000Z',
    };
    this.history.push(e);
    return e;
  }

  ctx(pending: Proposal[] = [], random = this.random): ProposalContext {
    return {
      task: this.task, parent: this.best, history: this.history, pending, random,
      signal: new AbortController().signal,
      readFile: async (id, path) => {
        assert.equal(path, 'train.py');
        return this.files.get(id)!;
      },
    };
  }

  /** Runs a proposal: applies its patch, scores it, keeps it if it beats the best. */
  finish(
    p: Proposal,
    score: (text: string) => number | undefined = (t) => loss(valuesOf(t)),
    parent: ExperimentRecord = this.best,
  ): ExperimentRecord {
    const id = `e${this.history.length}`;
    const text = applyPatch(this.files.get(parent.id)!, p.patch);
    assert.notEqual(text, false, 'the patch applies');
    this.files.set(id, text as string);
    const mean = score(text as string);
    const kept = mean !== undefined && mean < this.best.mean!;
    const e = this.add(id, parent.id, p, mean,
      mean === undefined ? { kind: 'failed', reason: 'diverged' } : kept ? { kind: 'kept', improvement: this.best.mean! - mean, threshold: 0 } : { kind: 'discarded', reason: 'worse' });
    if (kept) this.best = e;
    return e;
  }
}

async function search(proposer: Proposer, seed: number, budget: number): Promise<number> {
  const h = new Harness(TRAIN, seededRandom(seed));
  for (let i = 0; i < budget; i++) {
    const p = await proposer.propose(h.ctx());
    assert.ok(p);
    h.finish(p);
  }
  return h.best.mean!;
}

describe('tune proposer', () => {
  it('proposes a patch that git apply accepts, changing 1 to 3 knobs, with the full vector in meta', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ratchet-tune-'));
    try {
      const git = (...args: string[]) => run('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { cwd: dir });
      await git('init', '-q');
      await writeFile(join(dir, 'train.py'), TRAIN);
      await git('add', 'train.py');
      await git('commit', '-q', '-m', 'baseline');
      const h = new Harness();
      const proposals: Proposal[] = [];
      for (let i = 0; i < 12; i++) {
        const p = (await new TuneProposer().propose(h.ctx()))!;
        proposals.push(p);
        h.finish(p);
      }
      // Check the last one against the parent's files as git sees them.
      const p = proposals.at(-1)!;
      await writeFile(join(dir, 'train.py'), h.files.get(h.history.at(-1)!.parent!)!);
      await writeFile(join(dir, 'change.patch'), p.patch);
      await git('apply', '--check', 'change.patch');
      await git('apply', 'change.patch');
      const applied = await readFile(join(dir, 'train.py'), 'utf8');
      const meta = p.meta as unknown as NumericMeta;
      assert.deepEqual(valuesOf(applied), meta.params);
      for (const q of proposals) {
        const m = q.meta as unknown as NumericMeta;
        assert.ok(m.changed.length >= 1 && m.changed.length <= 3, q.hypothesis);
        assert.deepEqual(Object.keys(m.params).sort(), ['BATCH_SIZE', 'DROPOUT', 'LEARNING_RATE', 'TRAIN_STEPS', 'WEIGHT_DECAY']);
        assert.match(q.hypothesis, /^[A-Z_]+ \S+ → \S+(, [A-Z_]+ \S+ → \S+){0,2}$/);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reaches a lower loss than random search on a bowl with a known bottom', async () => {
    const tune: number[] = [];
    const random: number[] = [];
    for (let seed = 1; seed <= 5; seed++) {
      tune.push(await search(new TuneProposer(), seed, 30));
      random.push(await search(new RandomProposer(), seed, 30));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[2]!;
    assert.ok(median(tune) < median(random), `tune ${median(tune)} vs random ${median(random)}`);
    assert.ok(median(tune) < 0.1 * loss(valuesOf(TRAIN)), `tune ends near the bottom: ${median(tune)}`);
  });

  it('rebuilds the same observations from history alone after a restart, and proposes the same next step', async () => {
    const h = new Harness();
    const first = new TuneProposer();
    for (let i = 0; i < 10; i++) h.finish((await first.propose(h.ctx()))!);
    const before = await loadState(h.ctx(), new ParamReader());
    const after = await loadState(h.ctx(), new ParamReader());
    assert.equal(before.observations.length, h.history.length);
    assert.deepEqual(after.observations, before.observations);
    // The recorded vectors are what the files say.
    for (const [i, e] of h.history.entries()) {
      const fromFiles = valuesOf(h.files.get(e.id)!);
      assert.deepEqual(before.observations[i]!.values, before.dims.map((d) => fromFiles[d.name]));
    }
    const a = await first.propose(h.ctx([], seededRandom(99)));
    const b = await new TuneProposer().propose(h.ctx([], seededRandom(99)));
    assert.deepEqual(b, a);
  });

  it('never proposes a vector already tried or still running', async () => {
    const h = new Harness();
    const seen = new Set<string>([JSON.stringify(valuesOf(TRAIN))]);
    const proposer = new TuneProposer();
    for (let i = 0; i < 30; i++) {
      const parent = h.best;
      const pending = (await proposer.propose(h.ctx()))!;
      const next = (await proposer.propose(h.ctx([pending])))!;
      for (const p of [pending, next]) {
        const key = JSON.stringify((p.meta as unknown as NumericMeta).params);
        assert.ok(!seen.has(key), `repeated ${key}`);
        seen.add(key);
      }
      h.finish(pending, undefined, parent);
      h.finish(next, undefined, parent);
    }
  });

  it('counts failed runs as bad and steers away from where runs fail', async () => {
    const h = new Harness();
    const proposer = new TuneProposer();
    const diverges = (t: string) => (valuesOf(t)['LEARNING_RATE']! > 3e-3 ? undefined : loss(valuesOf(t)));
    for (let i = 0; i < 40; i++) h.finish((await proposer.propose(h.ctx()))!, diverges);
    const state = await loadState(h.ctx(), new ParamReader());
    const failed = h.history.filter((e) => e.verdict.kind === 'failed');
    assert.ok(failed.length > 0);
    assert.equal(state.observations.filter((o) => o.loss === undefined).length, failed.length);
    const lateFailures = h.history.slice(-20).filter((e) => e.verdict.kind === 'failed').length;
    assert.ok(lateFailures <= 5, `${lateFailures} of the last 20 runs failed`);
    assert.ok(h.best.mean! < loss(valuesOf(TRAIN)));
  });

  it('orients the metric: when higher is better, the best run is the highest', async () => {
    const h = new Harness();
    h.task.metric.direction = 'higher';
    h.history[0]!.mean = 1;
    const p = await new TuneProposer().propose(h.ctx());
    h.finish(p!);
    h.history[1]!.mean = 5;
    const state = await loadState(h.ctx(), new ParamReader());
    assert.deepEqual(state.observations.map((o) => o.loss), [-1, -5]);
  });

  it('throws a typed error with the fix when the files hold no knob', async () => {
    const h = new Harness('print("hello")\nSEED = 3\n');
    await assert.rejects(new TuneProposer().propose(h.ctx()), (e: unknown) => {
      assert.ok(e instanceof NoTunableParamsError);
      assert.match(e.describe(), /ALL_CAPS constants/);
      return true;
    });
  });

  it('returns null once every value of a tiny space has been tried', async () => {
    const h = new Harness('"""x"""\nNUM_LAYERS = 1\n');
    const proposer = new TuneProposer();
    const score = (t: string) => valuesOf(t)['NUM_LAYERS']!;
    let proposals = 0;
    for (let p = await proposer.propose(h.ctx()); p; p = await proposer.propose(h.ctx())) {
      h.finish(p, score);
      proposals++;
      assert.ok(proposals < 20);
    }
    assert.equal(proposals, 4); // NUM_LAYERS 1 → 2..5
  });
});

describe('random proposer', () => {
  it('draws every knob uniformly within the same space, with patches that apply', async () => {
    const h = new Harness();
    const dims = buildSpace(findParams('train.py', TRAIN));
    const proposer = new RandomProposer();
    for (let i = 0; i < 10; i++) {
      const p = (await proposer.propose(h.ctx()))!;
      assert.equal(proposer.name, 'random');
      const params = (p.meta as unknown as NumericMeta).params;
      for (const d of dims) assert.ok(params[d.name]! >= d.low && params[d.name]! <= d.high, d.name);
      h.finish(p);
    }
  });
});

describe('optimiser', () => {
  it('concentrates its proposals near the optimum of a noisy objective', () => {
    const dims = buildSpace([
      { name: 'lr', kind: 'float', value: 1e-3 },
      { name: 'wd', kind: 'float', value: 0.1 },
      { name: 'dropout', kind: 'float', value: 0.3 },
      { name: 'layers', kind: 'int', value: 4 },
    ]);
    const target = [dims[0]!.base * 5, 0.02, 0.1, 6];
    const f = (v: readonly number[]) =>
      Math.log(v[0]! / target[0]!) ** 2 + Math.log(v[1]! / target[1]!) ** 2 + 4 * (v[2]! - target[2]!) ** 2 + 0.05 * (v[3]! - target[3]!) ** 2;
    const random = seededRandom(3);
    const noise = seededRandom(4);
    const observations: Observation[] = [{ values: dims.map((d) => d.base), loss: f(dims.map((d) => d.base)) }];
    let best = observations[0]!;
    for (let i = 0; i < 40; i++) {
      const s = suggest({ dims, observations, pending: [], parent: best.values, random })!;
      const o = { values: s.values, loss: f(s.values) + 0.01 * (noise() - 0.5) };
      observations.push(o);
      if (o.loss < best.loss!) best = o;
    }
    const lastTen = observations.slice(-10).map((o) => f(o.values));
    const uniform = Array.from({ length: 200 }, () => f(dims.map((d) => fromUnit(d, random()))));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(mean(lastTen) < 0.25 * mean(uniform), `late proposals ${mean(lastTen)} vs uniform ${mean(uniform)}`);
    assert.ok(f(best.values) < 0.1 * f(observations[0]!.values));
  });
});
