// How many runs `tune` needs to reach a target, against uniform random search over the same
// knobs. Both proposers are driven the way the search loop drives them: the parent is the current
// best, a child is kept only if it beats its parent by more than the noise, two proposals are in
// flight at a time, and every finished experiment joins the history.
//
//   node --import tsx bench/tune-vs-random.ts             synthetic tasks (about a minute)
//   node --import tsx bench/tune-vs-random.ts --example   also examples/charlm/train.py (minutes)
//
// Targets: 90% of the improvement random search reaches with its full budget (the median over
// seeds), and 90% of the better method's; a seed that never reaches one counts as budget + 1.

import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { applyPatch } from 'diff';
import { RandomProposer } from '../src/engine/proposers/random.js';
import { TuneProposer } from '../src/engine/proposers/tune/index.js';
import type { ExperimentRecord, Proposal, Proposer, Task, Verdict } from '../src/engine/types.js';
import { seededRandom } from '../src/engine/util/stats.js';

const run = promisify(execFile);
const here = __dirname;

export interface Bench {
  name: string;
  file: string;
  source: string;
  /** One noisy measurement; undefined when the run fails. */
  measure(text: string, seed: number): Promise<number | undefined>;
  /** The noise-free value when known (synthetic tasks), used to judge progress. */
  truth?(text: string): number | undefined;
  /** Keep a child only if it beats its parent by more than this. */
  threshold: number;
  budget: number;
  seeds: number;
}

/** Reads `NAME = value` lines: the benchmark's own reader, independent of the one under test. */
function knobs(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^([A-Z][A-Z0-9_]*)\s*=\s*([-+0-9.eE_]+)\s*(?:#.*)?$/gm)) out[m[1]!] = Number(m[2]!.replace(/_/g, ''));
  for (const m of text.matchAll(/'--([a-z-]+)'.*?default=([-+0-9.eE_]+)/g)) out[m[1]!] = Number(m[2]!.replace(/_/g, ''));
  for (const m of text.matchAll(/'([a-z_]+)':\s*([-+0-9.eE_]+)/g)) out[m[1]!] = Number(m[2]!.replace(/_/g, ''));
  return out;
}

// Task A: six module-level knobs of a training script, with an interaction (the best learning
// rate grows with the batch size) and a divergence region (too high a learning rate fails).
export const SCRIPT_A = `"""A training script, as far as the tuner can tell."""
import math
import os

SEED = 1234              # not a knob
LEARNING_RATE = 1e-3     # peak learning rate
WEIGHT_DECAY = 0.1
BATCH_SIZE = 32
DROPOUT = 0.3
WARMUP_STEPS = 100
ADAM_BETA2 = 0.99

def lr_at(step):
    return LEARNING_RATE * min(1.0, (step + 1) / WARMUP_STEPS)
`;

export function lossA(k: Record<string, number>): number | undefined {
  const lr = k['LEARNING_RATE']!;
  const bs = k['BATCH_SIZE']!;
  if (!(lr > 0) || lr > 0.02 * Math.sqrt(bs / 32)) return undefined; // diverged
  const bestLr = 4e-3 * Math.sqrt(bs / 64);
  return (
    1 +
    0.08 * Math.log10(lr / bestLr) ** 2 +
    0.03 * Math.log10(k['WEIGHT_DECAY']! / 0.02) ** 2 +
    0.005 * Math.log2(bs / 128) ** 2 +
    0.3 * (k['DROPOUT']! - 0.05) ** 2 +
    0.01 * Math.log10((k['WARMUP_STEPS']! + 10) / 500) ** 2 +
    0.02 * Math.log10((1 - k['ADAM_BETA2']!) / 0.05) ** 2
  );
}

// Task B: argparse defaults and a config dict, a curved valley between two knobs, higher is
// better (an accuracy), and a knob that does not matter.
export const SCRIPT_B = `import argparse

parser = argparse.ArgumentParser()
parser.add_argument('--lr', type=float, default=0.1, help='learning rate')
parser.add_argument('--momentum', type=float, default=0.5)
parser.add_argument('--epochs', type=int, default=10)
parser.add_argument('--seed', type=int, default=0)
args = parser.parse_args()

model_cfg = {
    'width': 64,
    'label_smoothing': 0.0,
}
`;

export function accuracyB(k: Record<string, number>): number | undefined {
  const lr = k['lr']!;
  const mom = k['momentum']!;
  if (!(lr > 0) || mom >= 1) return undefined;
  // The effective step lr / (1 - momentum) is what matters most; its best value is 0.3.
  const eff = lr / (1 - mom);
  if (eff > 20) return undefined;
  return (
    0.9 -
    0.05 * Math.log10(eff / 0.3) ** 2 -
    0.01 * Math.log10((1 - mom) / 0.1) ** 2 -
    0.02 * Math.log2(k['width']! / 256) ** 2 / 4 -
    0.2 * (k['label_smoothing']! - 0.1) ** 2
    // epochs: no effect
  );
}

export function synthetic(name: string, source: string, f: (k: Record<string, number>) => number | undefined,
  noise: number, budget: number, seeds: number): Bench {
  return {
    name,
    file: 'train.py',
    source,
    threshold: noise,
    budget,
    seeds,
    truth: (text) => f(knobs(text)),
    async measure(text, seed) {
      const v = f(knobs(text));
      if (v === undefined) return undefined;
      const r = seededRandom(seed * 7919 + Math.round(v * 1e6));
      const g = Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
      return v + noise * g;
    },
  };
}

export interface Trace {
  /** Value of the current best after each run (noise-free when known). */
  best: number[];
  baseline: number;
  kept: number;
  failed: number;
}

/** Drives a proposer as the search loop does and records the best after every run. */
export async function drive(proposer: Proposer, bench: Bench, task: Task, seed: number): Promise<Trace> {
  const lower = task.metric.direction === 'lower';
  const better = (a: number, b: number): boolean => (lower ? a < b : a > b);
  const files = new Map<string, string>();
  const history: ExperimentRecord[] = [];
  const now = new Date(0).toISOString();
  const record = (id: string, parent: string | undefined, p: Proposal | null, mean: number | undefined, verdict: Verdict): ExperimentRecord => ({
    id, parent, thread: 't0', hypothesis: p?.hypothesis ?? 'baseline', proposer: proposer.name, patch: p?.patch ?? '',
    commit: id, meta: p?.meta, runs: [], mean, spread: 0, audit: [], verdict, startedAt: now, finishedAt: now,
  });

  files.set('e0', bench.source);
  const baseRuns: number[] = [];
  for (let s = 0; s < 3; s++) baseRuns.push((await bench.measure(bench.source, seed * 1000 + s))!);
  const baseline = record('e0', undefined, null, baseRuns.reduce((a, b) => a + b, 0) / baseRuns.length, { kind: 'baseline' });
  history.push(baseline);
  const value = (e: ExperimentRecord): number => (bench.truth ? bench.truth(files.get(e.id)!)! : e.mean!);

  let best = baseline;
  const random = seededRandom(seed);
  const controller = new AbortController();
  const inflight: { id: string; parent: ExperimentRecord; proposal: Proposal; result: Promise<number | undefined> }[] = [];
  const trace: Trace = { best: [], baseline: value(baseline), kept: 0, failed: 0 };
  let issued = 0;
  while (trace.best.length < bench.budget) {
    while (inflight.length < 2 && issued < bench.budget) {
      const proposal = await proposer.propose({
        task, parent: best, history, pending: inflight.map((f) => f.proposal), random, signal: controller.signal,
        readFile: async (id, path) => {
          if (path !== bench.file) throw new Error(`no file ${path}`);
          return files.get(id)!;
        },
      });
      if (!proposal) break;
      issued++;
      const id = `e${issued}`;
      const text = applyPatch(files.get(best.id)!, proposal.patch);
      if (text === false) throw new Error(`${proposer.name}'s patch does not apply:\n${proposal.patch}`);
      files.set(id, text);
      inflight.push({ id, parent: best, proposal, result: bench.measure(text, seed * 1000 + 10 + issued) });
    }
    const done = inflight.shift();
    if (!done) break;
    const mean = await done.result;
    let verdict: Verdict;
    if (mean === undefined) {
      verdict = { kind: 'failed', reason: 'no metric' };
      trace.failed++;
    } else {
      const improvement = lower ? done.parent.mean! - mean : mean - done.parent.mean!;
      verdict = improvement > bench.threshold && better(mean, best.mean!)
        ? { kind: 'kept', improvement, threshold: bench.threshold }
        : { kind: 'discarded', reason: 'not better than the parent' };
    }
    const rec = record(done.id, done.parent.id, done.proposal, mean, verdict);
    if (process.env['BENCH_TRACE']) console.log(done.id, done.proposal.hypothesis.padEnd(64), mean?.toFixed(4), verdict.kind);
    history.push(rec);
    if (verdict.kind === 'kept') {
      best = rec;
      trace.kept++;
    }
    trace.best.push(value(best));
  }
  while (trace.best.length < bench.budget) trace.best.push(trace.best.at(-1) ?? trace.baseline);
  return trace;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function compare(bench: Bench, direction: 'lower' | 'higher', out: string[]): Promise<void> {
  const task: Task = {
    name: bench.name, repoRoot: '/', editable: [bench.file], run: 'python3 train.py', cwd: '',
    metric: { name: 'metric', direction }, budgetSeconds: 60, protected: [], repeats: 3,
  };
  const sign = direction === 'lower' ? 1 : -1;
  const traces: Record<'tune' | 'random', Trace[]> = { tune: [], random: [] };
  const started = Date.now();
  for (let seed = 1; seed <= bench.seeds; seed++) {
    traces.tune.push(await drive(new TuneProposer(), bench, task, seed));
    traces.random.push(await drive(new RandomProposer(), bench, task, seed));
  }
  // Improvements are measured from the baseline, in the direction that is better.
  const gain = (t: Trace, v: number): number => sign * (t.baseline - v);
  const finalGain = (ts: Trace[]): number => median(ts.map((t) => gain(t, t.best.at(-1)!)));
  const runsTo = (t: Trace, target: number): number => {
    const i = t.best.findIndex((v) => gain(t, v) >= target);
    return i < 0 ? bench.budget + 1 : i + 1;
  };
  const line = (label: string, ts: Trace[], runs: number[]): string =>
    `  ${label.padEnd(7)} runs to target: median ${String(median(runs)).padStart(5)}  ` +
    `[${runs.join(' ')}]  reached ${runs.filter((r) => r <= bench.budget).length}/${runs.length}; ` +
    `final gain median ${finalGain(ts).toPrecision(3)}; ` +
    `kept ${median(ts.map((t) => t.kept))}, failed ${median(ts.map((t) => t.failed))} (medians)`;
  out.push(`${bench.name}: ${bench.seeds} seeds × ${bench.budget} runs per method, 2 in flight`);
  // The brief's target (what random reaches), and a harder one (what the better method reaches).
  const targets: [string, number][] = [
    ["90% of random's median final gain", 0.9 * finalGain(traces.random)],
    ['90% of the better median final gain', 0.9 * Math.max(finalGain(traces.random), finalGain(traces.tune))],
  ];
  for (const [what, target] of targets) {
    const tuneRuns = traces.tune.map((t) => runsTo(t, target));
    const randomRuns = traces.random.map((t) => runsTo(t, target));
    out.push(
      ` target = ${what} (${target.toPrecision(3)}); a seed that never reaches it counts as ${bench.budget + 1}`,
      line('tune', traces.tune, tuneRuns),
      line('random', traces.random, randomRuns),
      `  ratio random/tune (medians): ${(median(randomRuns) / median(tuneRuns)).toFixed(2)}×; ` +
        `per-seed ratios median: ${median(randomRuns.map((r, i) => r / tuneRuns[i]!)).toFixed(2)}×`,
    );
  }
  out.push(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`, '');
  console.log(out.slice(-11).join('\n'));
}

/** The real example: python3 runs the patched script in a temporary copy that shares its data. */
function exampleBench(dir: string): Bench {
  const exampleDir = resolve(here, '../examples/charlm');
  const source = readFileSync(join(exampleDir, 'train.py'), 'utf8');
  symlinkSync(join(exampleDir, 'data'), join(dir, 'data'));
  let n = 0;
  return {
    name: 'examples/charlm/train.py (val_bpb, measured)',
    file: 'train.py',
    source,
    threshold: 0.01,
    budget: 30,
    seeds: 3,
    async measure(text, seed) {
      const file = join(dir, `run${++n}.py`);
      writeFileSync(file, text);
      try {
        const { stdout } = await run('python3', [file], { env: { ...process.env, RATCHET_SEED: String(seed % 1000) }, timeout: 120_000 });
        const m = /^val_bpb:\s*([0-9.eE+-]+)\s*$/m.exec(stdout);
        return m ? Number(m[1]) : undefined;
      } catch {
        return undefined;
      } finally {
        rmSync(file, { force: true });
      }
    },
  };
}

async function main(): Promise<void> {
  const out: string[] = [`tune vs random (${new Date().toISOString().slice(0, 10)})`, ''];
  await compare(synthetic('synthetic A: 6 constants, lower is better', SCRIPT_A, lossA, 0.002, 60, 20), 'lower', out);
  await compare(synthetic('synthetic B: argparse + dict, higher is better', SCRIPT_B, accuracyB, 0.002, 60, 20), 'higher', out);
  if (process.argv.includes('--example')) {
    const dir = mkdtempSync(join(tmpdir(), 'ratchet-bench-'));
    try {
      mkdirSync(dir, { recursive: true });
      await compare(exampleBench(dir), 'lower', out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const resultFile = resolve(here, 'results/tune-vs-random.txt');
  mkdirSync(dirname(resultFile), { recursive: true });
  writeFileSync(resultFile, out.join('\n'));
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
