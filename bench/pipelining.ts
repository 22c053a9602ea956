// Slot utilisation of the search loop with a slow proposer (a model) against the sequential
// propose-then-run loop that single-agent systems such as autoresearch use, where a slot waits
// for the model before every run. Simulated, scaled down in time: 4 slots, runs of 60 s and 20 s
// of model latency per proposal become 60/SCALE and 20/SCALE seconds. The real Search drives
// both (real git commits, real journal); only the runner and the proposer are stand-ins.
//
//   npm run bench:pipelining            (about two minutes; SCALE=20 halves it)
//
// Utilisation counts slot time while work remains: from the moment the baseline is in until the
// last experiment starts (after that an idle slot has nothing left to run).
// Goal: at least 98 % busy with pipelining.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { snapshotWorkingTree } from '../src/engine/git/repo.js';
import { writeSettings, type SearchSettings } from '../src/engine/journal/store.js';
import { Search } from '../src/engine/search/search.js';
import type { Proposal, ProposalContext, Proposer, Runner, RunRequest, RunResult, Slot, Task } from '../src/engine/types.js';

const SCALE = Number(process.env.SCALE ?? 10);
const RUN_MS = 60_000 / SCALE;
const MODEL_MS = 20_000 / SCALE;
const SLOTS = 4;
const EXPERIMENTS = Number(process.env.EXPERIMENTS ?? 40);

/** A model stand-in: takes MODEL_MS per answer, changes one number in the parent's file. */
class SlowProposer implements Proposer {
  readonly name = 'simulated-model';
  readonly latency = 'slow' as const;
  constructor(readonly concurrency: number) {}

  async propose(ctx: ProposalContext): Promise<Proposal> {
    await sleep(MODEL_MS, ctx.signal);
    const before = await ctx.readFile(ctx.parent.id, 'train.py');
    const value = Math.round(ctx.random() * 1e6);
    const after = before.replace(/^X = .*$/m, `X = ${value}`);
    return { hypothesis: `set X to ${value}`, patch: createTwoFilesPatch('a/train.py', 'b/train.py', before, after) };
  }
}

interface Busy {
  slot: string;
  start: number;
  end: number;
}

/** A GPU stand-in: every run takes RUN_MS and reports a noisy score. */
class SimulatedRunner implements Runner {
  readonly name = 'simulated';
  readonly busy: Busy[] = [];
  private seed = 1;

  slots(): Slot[] {
    return Array.from({ length: SLOTS }, (_, i) => ({ id: `gpu${i}`, env: {} }));
  }

  async run(req: RunRequest): Promise<RunResult> {
    const start = Date.now();
    const cancelled = !(await sleep(RUN_MS, req.signal));
    const end = Date.now();
    this.busy.push({ slot: req.slot.id, start, end });
    const score = 1 + 0.01 * Math.sin(this.seed++ * 12.9898);
    return { exitCode: 0, signal: null, timedOut: false, cancelled, durationMs: end - start, outputTail: '', droppedBytes: 0, metrics: { score }, audit: [] };
  }
}

async function measure(mode: 'pipelined' | 'sequential'): Promise<{ utilisation: number; window: number; experiments: number }> {
  const repo = mkdtempSync(join(tmpdir(), 'ratchet-bench-pipe-'));
  try {
    const sh = (...args: string[]) => execFileSync('git', args, { cwd: repo, stdio: 'pipe' });
    sh('init', '-q');
    writeFileSync(join(repo, 'train.py'), 'X = 0\nprint("score", 1.0)\n');
    const task: Task = {
      name: 'simulated',
      repoRoot: repo,
      editable: ['train.py'],
      run: 'python3 train.py',
      cwd: '',
      metric: { name: 'score', direction: 'lower' },
      budgetSeconds: 3600,
      protected: [],
      repeats: SLOTS,
    };
    const settings: SearchSettings = {
      id: `bench-${mode}`,
      file: 'train.py',
      task,
      proposer: 'simulated-model',
      parallel: SLOTS,
      seed: 1,
      baselineCommit: await snapshotWorkingTree(repo, 'baseline'),
      createdAt: new Date().toISOString(),
    };
    writeSettings(repo, settings);
    const runner = new SimulatedRunner();
    // The sequential loop: each slot asks the model for its next proposal only once it is free,
    // as one autoresearch agent per GPU would; the pipelined loop asks ahead, two calls at a time.
    const proposer = new SlowProposer(mode === 'sequential' ? SLOTS : 2);
    const search = new Search({ repoRoot: repo, settings, proposer, runner, maxExperiments: EXPERIMENTS, maxSeeds: 1, pipelining: mode === 'pipelined', signal: new AbortController().signal });
    let from = 0;
    search.on('event', (e) => {
      if (e.type === 'experiment-finished' && e.experiment.id === 'e0') from = Date.now();
    });
    const summary = await search.run();
    const runs = runner.busy.filter((b) => b.start >= from - 1);
    const until = Math.max(...runs.map((b) => b.start));
    let busy = 0;
    for (const b of runs) busy += Math.max(0, Math.min(b.end, until) - Math.max(b.start, from));
    return { utilisation: busy / (SLOTS * (until - from)), window: until - from, experiments: summary.experiments.length - 1 };
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function main(): Promise<void> {
  console.log(`pipelining: ${SLOTS} slots, runs ${RUN_MS} ms, model ${MODEL_MS} ms per proposal (60 s / 20 s scaled by 1/${SCALE}), ${EXPERIMENTS} experiments`);
  const sequential = await measure('sequential');
  const pipelined = await measure('pipelined');
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log(`sequential propose-then-run: ${pct(sequential.utilisation)} of slot time busy over ${(sequential.window / 1000).toFixed(1)} s (${sequential.experiments} experiments)`);
  console.log(`pipelined:                   ${pct(pipelined.utilisation)} of slot time busy over ${(pipelined.window / 1000).toFixed(1)} s (${pipelined.experiments} experiments)`);
  console.log(`time to start ${EXPERIMENTS} experiments: ${(sequential.window / pipelined.window).toFixed(2)}x shorter pipelined`);
  console.log(`goal >= 98% busy: ${pipelined.utilisation >= 0.98 ? 'met' : 'NOT met'}`);
}

void main();
