// The search policy over threads: draft while there is room, debug a fresh failure, combine two
// threads' independent gains, close a stale thread, favour the thread with the larger gain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { choose, STALE_AFTER, type PendingChoice, type PolicyState } from '../../src/engine/search/policy';
import type { ExperimentRecord, Verdict } from '../../src/engine/types';

function exp(id: string, parent: string | undefined, thread: string, mean: number | undefined, verdict: Verdict, extra: Partial<ExperimentRecord> = {}): ExperimentRecord {
  return {
    id,
    parent,
    thread,
    hypothesis: `hypothesis of ${id}`,
    proposer: 'llm',
    patch: '',
    commit: `commit-${id}`,
    runs: [],
    mean,
    audit: [],
    verdict,
    startedAt: '',
    finishedAt: '',
    ...extra,
  };
}

const baseline = exp('e0', undefined, 'main', 10, { kind: 'baseline' });
const kept = (improvement = 1): Verdict => ({ kind: 'kept', improvement, threshold: 0.1 });
const discarded: Verdict = { kind: 'discarded', reason: 'not better' };

function state(finished: ExperimentRecord[], opts: Partial<PolicyState> = {}): PolicyState {
  const best = finished.filter((e) => e.mean !== undefined && (e.verdict.kind === 'kept' || e.verdict.kind === 'baseline')).sort((a, b) => a.mean! - b.mean!)[0]!;
  return { finished, pending: [], best, direction: 'lower', maxThreads: 3, random: () => 0, ...opts };
}

test('a fresh search drafts new threads from the best node until the limit, then improves one', () => {
  const first = choose(state([baseline]));
  assert.equal(first.intent.kind, 'draft');
  assert.equal(first.parent.id, 'e0');
  assert.equal(first.thread.id, 't1');

  const pending: PendingChoice[] = [
    { parent: 'e0', thread: 't1', intent: 'draft' },
    { parent: 'e0', thread: 't2', intent: 'draft' },
  ];
  const third = choose(state([baseline], { pending }));
  assert.equal(third.intent.kind, 'draft');
  assert.equal(third.thread.id, 't3');
  assert.deepEqual(third.intent.kind === 'draft' && third.intent.others.map((t) => t.id), ['t1', 't2']);

  // Three threads open (their drafts still running): the next proposal extends one of them.
  const fourth = choose(state([baseline], { pending: [...pending, { parent: 'e0', thread: 't3', intent: 'draft' }] }));
  assert.equal(fourth.intent.kind, 'improve');
  assert.match(fourth.thread.id, /^t[123]$/);
});

test('the latest failure of a thread is debugged once, against the failed experiment’s parent', () => {
  const e1 = exp('e1', 'e0', 't1', 9, kept());
  const e2 = exp('e2', 'e1', 't1', undefined, { kind: 'failed', reason: 'exit code 1: NameError' });
  const c = choose(state([baseline, e1, e2], { maxThreads: 1 }));
  assert.equal(c.intent.kind, 'debug');
  assert.equal(c.intent.kind === 'debug' && c.intent.failed.id, 'e2');
  assert.equal(c.parent.id, 'e1');
  assert.equal(c.thread.id, 't1');

  // Already being fixed: no second debug of the same failure.
  const again = choose(state([baseline, e1, e2], { maxThreads: 1, pending: [{ parent: 'e1', thread: 't1', intent: 'debug', other: 'e2' }] }));
  assert.notEqual(again.intent.kind, 'debug');

  // A fix of a fix that failed again is not chased further.
  const e3 = exp('e3', 'e1', 't1', undefined, { kind: 'failed', reason: 'still broken' }, { intent: 'debug', other: 'e2' });
  const e4 = exp('e4', 'e1', 't1', undefined, { kind: 'failed', reason: 'still broken' }, { intent: 'debug', other: 'e3' });
  assert.notEqual(choose(state([baseline, e1, e2, e3, e4], { maxThreads: 1 })).intent.kind, 'debug');

  // A patch to a forbidden file is not a bug to fix.
  const e5 = exp('e5', 'e1', 't1', undefined, { kind: 'rejected', reason: 'the patch touches protected file data/val.txt' });
  assert.notEqual(choose(state([baseline, e1, e5], { maxThreads: 1 })).intent.kind, 'debug');
});

test('two threads with independent gains are combined into the best, once', () => {
  const a = exp('e1', 'e0', 't1', 8, kept(2));
  const b = exp('e2', 'e0', 't2', 9, kept(1));
  const c = choose(state([baseline, a, b], { maxThreads: 2 }));
  assert.equal(c.intent.kind, 'combine');
  assert.equal(c.parent.id, 'e1');
  assert.equal(c.intent.kind === 'combine' && c.intent.other.id, 'e2');

  const tried = exp('e3', 'e1', 't1', 7.9, discarded, { intent: 'combine', other: 'e2' });
  assert.notEqual(choose(state([baseline, a, b, tried], { maxThreads: 2 })).intent.kind, 'combine');

  // A descendant of the best holds nothing the best lacks... and vice versa.
  const child = exp('e4', 'e1', 't2', 7.5, kept(0.5));
  assert.notEqual(choose(state([baseline, a, child], { maxThreads: 2 })).intent.kind, 'combine');
});

test(`a thread ${STALE_AFTER} experiments without a gain is closed and a new one drafted`, () => {
  const t1 = [exp('e1', 'e0', 't1', 10.5, discarded)];
  for (let i = 2; i <= STALE_AFTER; i++) t1.push(exp(`e${i}`, 'e0', 't1', 10.5, discarded));
  const c = choose(state([baseline, ...t1], { maxThreads: 1 }));
  assert.equal(c.intent.kind, 'draft');
  assert.equal(c.thread.id, 't2');
  assert.deepEqual(c.intent.kind === 'draft' && c.intent.others, []);

  const open = choose(state([baseline, ...t1.slice(1)], { maxThreads: 1 }));
  assert.equal(open.intent.kind, 'improve');
  assert.equal(open.thread.id, 't1');
});

test('with equal tries, the thread with the larger gain is extended, from its best node', () => {
  const a1 = exp('e1', 'e0', 't1', 9.9, kept(0.1));
  const a2 = exp('e3', 'e1', 't1', 9.95, discarded);
  const b1 = exp('e2', 'e0', 't2', 8, kept(2), { parent: 'e0' });
  const b2 = exp('e4', 'e2', 't2', 8.5, discarded);
  // e2 is the best and e1 its sibling: a combine would come first, so mark it as tried.
  const tried = exp('e5', 'e2', 't2', 8.1, discarded, { intent: 'combine', other: 'e1' });
  const c = choose(state([baseline, a1, b1, a2, b2, tried], { maxThreads: 2 }));
  assert.equal(c.intent.kind, 'improve');
  assert.equal(c.thread.id, 't2');
  assert.equal(c.parent.id, 'e2');
});
