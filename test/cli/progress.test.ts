// The words of a running search in a terminal, from search events alone: the finished lines, the
// status line and the summary, for a result held for review and for self-reported values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { printSummary } from '../../src/cli/commands/search';
import type { Io } from '../../src/cli/io';
import { Progress } from '../../src/cli/progress';
import type { Search, SearchEvent } from '../../src/engine/search/search';
import type { ExperimentRecord, MetricSource, Task } from '../../src/engine/types';

const exp = (id: string, mean: number, verdict: ExperimentRecord['verdict'], source?: MetricSource): ExperimentRecord => ({
  id,
  parent: id === 'e0' ? undefined : 'e0',
  thread: 'main',
  hypothesis: `hypothesis ${id}`,
  proposer: 'tune',
  patch: '',
  runs: [{ seed: 0, value: mean, metrics: {}, exitCode: 0, outcome: 'ok', durationMs: 1000, log: 'l', slot: 's', ...(source ? { source } : {}) }],
  mean,
  spread: 0,
  audit: [],
  verdict,
  startedAt: '',
  finishedAt: '',
});

const suspect: ExperimentRecord['verdict'] = { kind: 'suspect', reason: 'below the metric\'s bound of 0.5', improvement: 0.9, threshold: 0.01 };

/** A terminal that records what is written, and a search that is only an event source. */
function harness(tty: boolean) {
  let written = '';
  const out = { columns: 200, write: (t: string) => ((written += t), true) } as unknown as NodeJS.WriteStream;
  const search = Object.assign(new EventEmitter(), { metric: { name: 'val_bpb', direction: 'lower' } }) as unknown as Search;
  const progress = new Progress({ out, tty, parallel: 1 });
  progress.attach(search);
  const emit = (e: SearchEvent) => search.emit('event', e);
  return { emit, progress, written: () => written };
}

test('a suspect result gets its own mark and reason, and the status line counts what is held', () => {
  const { emit, progress, written } = harness(true);
  try {
    emit({ type: 'experiment-finished', experiment: exp('e0', 1.0, { kind: 'baseline' }), isBest: true });
    emit({ type: 'experiment-finished', experiment: exp('e1', 0.1, suspect), isBest: false });
    progress.line('tick'); // redraws the status line
  } finally {
    progress.stop();
  }
  const text = written();
  assert.match(text, /Baseline val_bpb 1\.0000 \(self-reported\) — noise/);
  assert.match(text, /\? e1\s+suspect\s+0\.1000\s+−0\.9000\s+hypothesis e1 {2}\(held for review: below the metric's bound of 0\.5 \(accept it with `ratchet accept e1`\)\)/);
  assert.match(text, /best 1\.0000 \(e0, self-reported\) · 1 held for review · /);
});

test('values from the evaluation function carry no self-reported mark', () => {
  const { emit, progress, written } = harness(true);
  try {
    emit({ type: 'experiment-finished', experiment: exp('e0', 1.0, { kind: 'baseline' }, 'evaluator'), isBest: true });
    emit({ type: 'experiment-finished', experiment: exp('e1', 0.9, { kind: 'kept', improvement: 0.1, threshold: 0.01 }, 'evaluator'), isBest: true });
    progress.line('tick');
  } finally {
    progress.stop();
  }
  assert.doesNotMatch(written(), /self-reported|held for review/);
  assert.match(written(), /★ e1\s+kept\s+0\.9000 /);
});

function capture(): { io: Io; lines: string[] } {
  const lines: string[] = [];
  return { io: { out: (t: string) => lines.push(t), err: (t: string) => lines.push(t) } as unknown as Io, lines };
}

const task = { kernel: undefined, evaluate: undefined } as unknown as Task;

test('the summary marks self-reported values and names each result held for review with what to do', () => {
  const e0 = exp('e0', 1.0, { kind: 'baseline' });
  const e1 = exp('e1', 0.9, { kind: 'kept', improvement: 0.1, threshold: 0.01 });
  const e2 = { ...exp('e2', 0.1, suspect), parent: 'e1' };
  const { io, lines } = capture();
  printSummary({ searchId: 's', baseline: e0, best: e1, experiments: [e0, e1, e2], noise: 0.01, stoppedBecause: 'reached the time limit' }, 'val_bpb', task, io);
  const text = lines.join('\n');
  assert.match(text, /baseline {2}e0 {4}val_bpb 1\.0000 \(self-reported\) {3}noise/);
  assert.match(text, /best {6}e1 {4}val_bpb 0\.9000 \(self-reported\) {3}−0\.1000/);
  assert.match(text, /held for review: e2 — below the metric's bound of 0\.5; review with `ratchet show e2`, accept with `ratchet accept e2`/);
  assert.match(text, /2 experiments: 1 kept, 1 suspect/);
  assert.match(text, /val_bpb is self-reported: the task names no evaluation function/);
});

test('a kernel task\'s values are the harness\'s own, even in records that do not name a source', () => {
  const e0 = exp('e0', 0.5, { kind: 'baseline' });
  const { io, lines } = capture();
  printSummary({ searchId: 's', baseline: e0, best: e0, experiments: [e0], noise: 0.01, stoppedBecause: 'done' }, 'sol_score', { kernel: { task: '.', candidate: 'naive.py' } } as Task, io);
  assert.doesNotMatch(lines.join('\n'), /self-reported|held for review/);
});
