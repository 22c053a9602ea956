// The verdict once an experiment's runs are in: held for review when too good to be true, flagged
// when its guard does not follow or it trained longer than the baseline, kept when it clears the
// noise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crashLine, SUSPECT_RERUNS, tooGoodToBeTrue, verdictOf, wantsAnotherRun, compare, type VerdictContext } from '../../src/engine/search/verdict';
import type { ExperimentRecord, RunRecord, Task } from '../../src/engine/types';

const TASK: Task = {
  name: 't', repoRoot: '/r', editable: ['train.py'], run: 'python3 train.py', cwd: '',
  metric: { name: 'val_bpb', direction: 'lower' }, budgetSeconds: 60, protected: [], repeats: 3,
};

function run(value: number, extra: Partial<RunRecord> = {}): RunRecord {
  return { seed: 0, value, metrics: { val_bpb: value }, exitCode: 0, outcome: 'ok', durationMs: 1000, log: 'l', slot: 's', source: 'evaluator', ...extra };
}

function exp(id: string, runs: RunRecord[], verdict: ExperimentRecord['verdict'] = { kind: 'cancelled' }, parent = 'e0'): ExperimentRecord {
  const values = runs.map((r) => r.value!);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { id, parent, thread: 'main', hypothesis: id, proposer: 'replay', patch: '', runs, mean, spread: 0, audit: [], verdict, startedAt: '', finishedAt: '' };
}

const baseline = exp('e0', [run(2.0), run(2.02), run(1.98)], { kind: 'baseline' });
const ctx = (over: Partial<VerdictContext> = {}): VerdictContext => ({ task: TASK, noise: 0.02, parent: baseline, baseline, finished: [baseline], ...over });

test('a gain far past the noise and not implausible is kept', () => {
  const e = exp('e1', [run(1.8), run(1.81)]);
  assert.equal(verdictOf(e, ctx()).kind, 'kept');
});

test('a first step that cuts the loss to a tenth is held for review, after its re-runs', () => {
  const e = exp('e1', [run(0.006)]);
  const c = ctx();
  assert.ok(tooGoodToBeTrue(e, c, compare(e, c))?.includes('333-fold'));
  assert.equal(tooGoodToBeTrue(exp('e1', [run(1.0)]), c, compare(exp('e1', [run(1.0)]), c)), undefined, 'halving is not implausible');
  assert.equal(wantsAnotherRun(e, c, 3), true, 'a too-good result is re-run before it is held');
  const rerun = exp('e1', Array.from({ length: 1 + SUSPECT_RERUNS }, () => run(0.006)));
  assert.equal(wantsAnotherRun(rerun, c, 3), false);
  const v = verdictOf(rerun, c);
  assert.equal(v.kind, 'suspect');
  assert.match((v as { reason: string }).reason, /too good to be true.*held over 3 runs/);
});

test('a gain five times the largest kept so far is held; one of the same order is kept', () => {
  const kept = exp('e1', [run(1.9)], { kind: 'kept', improvement: 0.1, threshold: 0.04 });
  const c = ctx({ parent: kept, finished: [baseline, kept] });
  assert.equal(verdictOf(exp('e2', [run(1.7), run(1.7), run(1.7)], undefined, 'e1'), c).kind, 'kept');
  const v = verdictOf(exp('e3', [run(1.2), run(1.2), run(1.2)], undefined, 'e1'), c);
  assert.equal(v.kind, 'suspect');
  assert.match((v as { reason: string }).reason, /7× the largest kept so far/);
});

test('a value past the metric\'s declared bound is held whatever its gain', () => {
  const c = ctx({ task: { ...TASK, metric: { ...TASK.metric, bound: 1.9 } } });
  const v = verdictOf(exp('e1', [run(1.85), run(1.85), run(1.85)]), c);
  assert.equal(v.kind, 'suspect');
  assert.match((v as { reason: string }).reason, /past the task's bound of 1\.9/);
});

test('a gain whose guard does not follow is flagged; one whose guard follows is kept', () => {
  const task: Task = { ...TASK, guard: { function: '/g/guard.py:g', metric: 'guard_bpb' } };
  const base = exp('e0', [run(2.0, { guard: 2.2 }), run(2.02, { guard: 2.21 }), run(1.98, { guard: 2.19 })], { kind: 'baseline' });
  const c = ctx({ task, parent: base, baseline: base, finished: [base] });
  const honest = exp('e1', [run(1.8, { guard: 2.02 }), run(1.8, { guard: 2.0 })]);
  assert.equal(verdictOf(honest, c).kind, 'kept');
  const onTheTest = exp('e2', [run(1.6, { guard: 2.25 }), run(1.6, { guard: 2.24 })]);
  const v = verdictOf(onTheTest, c);
  assert.equal(v.kind, 'flagged');
  assert.equal(onTheTest.audit[0]!.check, 'guard-does-not-follow');
  assert.match(onTheTest.audit[0]!.message, /guard guard_bpb.*got worse/);
});

test('under a training budget, a run that evaluates much later than the baseline did is flagged', () => {
  const task: Task = { ...TASK, trainingBudgetSeconds: 20 };
  const base = exp('e0', [run(2.0, { secondsToEvaluation: 24 }), run(2.0, { secondsToEvaluation: 25 })], { kind: 'baseline' });
  const c = ctx({ task, parent: base, baseline: base, finished: [base] });
  assert.equal(verdictOf(exp('e1', [run(1.8, { secondsToEvaluation: 27 }), run(1.8, { secondsToEvaluation: 26 })]), c).kind, 'kept');
  const late = exp('e2', [run(1.8, { secondsToEvaluation: 41 }), run(1.8, { secondsToEvaluation: 26 })]);
  assert.equal(verdictOf(late, c).kind, 'flagged');
  assert.equal(late.audit[0]!.check, 'trained-longer-than-baseline');
});

test('a suspected hack outweighs any gain, and a close call within the noise is discarded', () => {
  const hack = exp('e1', [run(1.5)]);
  hack.audit.push({ check: 'printed_metric', severity: 'hack', message: 'printed 1.2 but the evaluator returned 1.5' });
  assert.deepEqual(verdictOf(hack, ctx()), { kind: 'flagged', reason: 'printed 1.2 but the evaluator returned 1.5' });
  const close = exp('e2', [run(1.99), run(1.99), run(1.99)]);
  assert.equal(wantsAnotherRun(close, ctx(), 3), false, 'three runs are the most a close call gets');
  assert.match((verdictOf(close, ctx()) as { reason: string }).reason, /within the noise/);
});

test('a crashed run is described by its exception, even when a printed line came after it', () => {
  assert.equal(crashLine('step 1\nTraceback (most recent call last):\n  File "t.py", line 3\nRuntimeError: bad config: x=1\nsaw HF_TOKEN: yes\n'), 'RuntimeError: bad config: x=1');
  assert.equal(crashLine('torch.OutOfMemoryError: CUDA out of memory\n'), 'torch.OutOfMemoryError: CUDA out of memory');
  assert.equal(crashLine('no exception here\nKilled'), 'Killed');
});
