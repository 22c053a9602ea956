import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SearchView } from '../../src/engine/inspect';
import type { SearchSettings } from '../../src/engine/journal/store';
import { STALE_AFTER } from '../../src/engine/search/policy';
import type { SearchInfo } from '../../src/server/protocol';
import type { ExperimentRecord, Verdict } from '../../src/engine/types';
import { codeLensTitle, experimentForLine, experimentViews, fmtDelta, heldInBaseline, heldInExperiment, hoverMarkdown, newLineToOld, searchInfo, threadSummaries, usageTotal } from '../../src/server/views';

const info = (over: Partial<SearchInfo>): SearchInfo => ({
  id: 's',
  file: 'train.py',
  path: '/r/train.py',
  metric: { name: 'val_bpb', direction: 'lower' },
  running: false,
  active: 0,
  experiments: 36,
  runs: 37,
  flagged: 0,
  createdAt: '2026-01-01',
  ...over,
});

test('the code lens reads like the design: best, delta vs baseline, runs', () => {
  assert.equal(codeLensTitle(info({ baseline: 0.9369, best: { id: 'e7', mean: 0.9109 } })), 'best 0.9109 val_bpb, −0.026 vs baseline · 37 runs');
  assert.equal(codeLensTitle(info({ running: true, flagged: 2, baseline: 0.9369, best: { id: 'e0', mean: 0.9369 } })), 'baseline 0.9369 val_bpb, no improvement yet · 37 runs · running · 2 flagged');
  assert.equal(codeLensTitle(info({ runs: 0 })), 'measuring the baseline · 0 runs');
});

test('deltas carry a real minus sign and an explicit plus', () => {
  assert.equal(fmtDelta(-0.02604), '−0.02604');
  assert.equal(fmtDelta(0.5), '+0.5');
});

const patch = [
  '--- a/train.py',
  '+++ b/train.py',
  '@@ -2,3 +2,4 @@',
  ' b',
  '-c',
  '+C',
  '+extra',
  ' d',
  '@@ -10,2 +11,2 @@',
  ' j',
  '-k',
  '+K',
  '',
].join('\n');

test('a line of the patched file maps back to where it sits in the original', () => {
  assert.equal(newLineToOld(patch, 'train.py', 1), 1); // before any hunk
  assert.equal(newLineToOld(patch, 'train.py', 3), 3); // replaces c
  assert.equal(newLineToOld(patch, 'train.py', 4), 3); // the extra line stays beside it
  assert.equal(newLineToOld(patch, 'train.py', 5), 4); // d, shifted by one
  assert.equal(newLineToOld(patch, 'train.py', 8), 7); // between hunks
  assert.equal(newLineToOld(patch, 'train.py', 12), 11); // replaces k
  assert.equal(newLineToOld(patch, 'other.py', 12), 12);
});

test('a hover finds the latest kept experiment that added exactly this line', () => {
  const kept = (id: string, added: string): ExperimentRecord => ({
    id,
    thread: 'main',
    hypothesis: id,
    proposer: 'replay',
    patch: `--- a/train.py\n+++ b/train.py\n@@ -1,1 +1,1 @@\n-x\n+${added}\n`,
    runs: [],
    audit: [],
    verdict: { kind: 'kept', improvement: 1, threshold: 0 },
    startedAt: '',
    finishedAt: '',
  });
  const list = [kept('e1', 'LR = 0.2'), kept('e2', 'LR = 0.3')];
  assert.equal(experimentForLine(list, 'train.py', 'LR = 0.3')?.id, 'e2');
  assert.equal(experimentForLine(list, 'train.py', 'LR = 0.2')?.id, 'e1');
  assert.equal(experimentForLine(list, 'train.py', 'LR = 0.4'), undefined);
  assert.equal(experimentForLine(list, 'train.py', '   '), undefined);
});

// A search as the engine's read-only view gives it, from a few experiments.
const rec = (id: string, over: Partial<ExperimentRecord> = {}): ExperimentRecord => ({
  id,
  parent: id === 'e0' ? undefined : 'e0',
  thread: 'main',
  hypothesis: `hypothesis of ${id}`,
  proposer: 'llm',
  patch: '',
  commit: `c-${id}`,
  runs: [],
  audit: [],
  verdict: { kind: 'discarded', reason: 'no better' },
  startedAt: '',
  finishedAt: '',
  ...over,
});
const kept: Verdict = { kind: 'kept', improvement: 0.1, threshold: 0.01 };
const baseline = rec('e0', { verdict: { kind: 'baseline' }, mean: 1.0 });
const searchView = (experiments: ExperimentRecord[], running = false): SearchView => ({
  settings: { id: 's1', file: 'train.py', createdAt: '2026-01-01' } as SearchSettings,
  experiments,
  metric: { name: 'val_loss', direction: 'lower' },
  running: running ? { pid: 1 } : undefined,
  best: experiments.filter((e) => e.verdict.kind === 'kept' || e.verdict.kind === 'baseline').sort((a, b) => a.mean! - b.mean!)[0],
});

test('a search without threads or a model reads as before: no threads, no usage, no new keys', () => {
  const view = searchView([baseline, rec('e1', { verdict: kept, mean: 0.9 })]);
  assert.equal(threadSummaries(view.experiments, 'lower'), undefined);
  const info = searchInfo('/r', view, [], false);
  assert.ok(!('threads' in info) && !('usage' in info), 'no threads or usage key at all');
  const [e0, e1] = experimentViews(view, []);
  assert.deepEqual(Object.keys(e1!).filter((k) => ['intent', 'other', 'usage'].includes(k)), []);
  assert.equal(e0!.thread, 'main');
});

test('threads are summarised in the order they started, focus from their first experiment', () => {
  const experiments = [
    baseline,
    rec('e1', { thread: 't1', hypothesis: 'Raise the learning rate', verdict: kept, mean: 0.9 }),
    rec('e2', { thread: 't2', hypothesis: 'Wider model', mean: 1.1 }),
    rec('e3', { thread: 't1', parent: 'e1', hypothesis: 'Raise it again', verdict: kept, mean: 0.85 }),
    rec('e4', { thread: 't1', parent: 'e3', hypothesis: 'And again', mean: 0.95 }),
  ];
  const threads = threadSummaries(experiments, 'lower')!;
  assert.deepEqual(
    threads.map((t) => [t.id, t.focus, t.experiments, t.best?.id, t.sinceImprovement, t.open]),
    [
      ['t1', 'Raise the learning rate', 3, 'e3', 1, true],
      ['t2', 'Wider model', 1, undefined, 1, true],
    ],
  );
});

test(`a thread whose last ${STALE_AFTER} experiments kept nothing is stale, unless one still runs`, () => {
  const misses = Array.from({ length: STALE_AFTER }, (_, i) => rec(`e${i + 2}`, { thread: 't1', parent: 'e1' }));
  const experiments = [baseline, rec('e1', { thread: 't1', verdict: kept, mean: 0.9 }), ...misses];
  const [t1] = threadSummaries(experiments, 'lower')!;
  assert.equal(t1!.open, false);
  assert.equal(t1!.sinceImprovement, STALE_AFTER);
  // One short of the limit is still open, and a cancelled run does not count against it.
  const cancelled = rec('e9', { thread: 't1', verdict: { kind: 'cancelled' } });
  assert.equal(threadSummaries([...experiments.slice(0, -1), cancelled], 'lower')![0]!.open, true);
  // A running experiment keeps it open, as a pending proposal does for the policy.
  const [running] = threadSummaries(experiments, 'lower', [{ id: 'e20', hypothesis: 'one more', thread: 't1' }])!;
  assert.deepEqual([running!.open, running!.running], [true, 1]);
});

test('a kept experiment that does not better the thread does not reset its count', () => {
  const experiments = [
    baseline,
    rec('e1', { thread: 't1', verdict: kept, mean: 0.8 }),
    rec('e2', { thread: 't1', parent: 'e0', verdict: kept, mean: 0.9 }),
  ];
  const [t1] = threadSummaries(experiments, 'lower')!;
  assert.deepEqual([t1!.best, t1!.sinceImprovement], [{ id: 'e1', mean: 0.8 }, 1]);
});

test('experiment views carry thread, intent, other and usage; the search sums the usage', () => {
  const usage = (costUsd: number) => ({ model: 'openai:gpt-4o-mini', calls: 2, inputTokens: 1000, outputTokens: 200, costUsd });
  const view = searchView(
    [
      baseline,
      rec('e1', { thread: 't1', intent: 'draft', verdict: kept, mean: 0.9, usage: usage(0.01) }),
      rec('e2', { thread: 't2', intent: 'draft', verdict: kept, mean: 0.95, usage: usage(0.02) }),
      rec('e3', { thread: 't1', parent: 'e1', intent: 'combine', other: 'e2', verdict: kept, mean: 0.85, usage: usage(0.03) }),
      rec('e4', { thread: 't2', parent: 'e2', verdict: { kind: 'failed', reason: 'crash' } }),
      rec('e5', { thread: 't2', parent: 'e2', intent: 'debug', other: 'e4', mean: 0.97 }),
    ],
    true,
  );
  const views = experimentViews(view, [{ id: 'e6', parent: 'e3', hypothesis: 'next', thread: 't1' }]);
  const e3 = views.find((e) => e.id === 'e3')!;
  assert.deepEqual([e3.thread, e3.intent, e3.other, e3.usage?.costUsd], ['t1', 'combine', 'e2', 0.03]);
  assert.deepEqual([views[5]!.intent, views[5]!.other], ['debug', 'e4']);
  assert.deepEqual([views[6]!.status, views[6]!.thread], ['running', 't1']);
  const info = searchInfo('/r', view, [{ id: 'e6', parent: 'e3', hypothesis: 'next', thread: 't1' }], false);
  assert.deepEqual(info.threads?.map((t) => [t.id, t.running]), [['t1', 1], ['t2', 0]]);
  assert.equal(info.usage?.calls, 6);
  assert.equal(info.usage?.inputTokens, 3000);
  assert.ok(Math.abs(info.usage!.costUsd - 0.06) < 1e-12);
  assert.equal(usageTotal([baseline]), undefined);
});

// ---- results held for review, and where a metric came from ----

const held: Verdict = { kind: 'suspect', reason: 'a gain 12× the largest kept so far', improvement: 0.5, threshold: 0.01 };
const printedRun = { seed: 0, value: 0.5, metrics: {}, exitCode: 0, outcome: 'ok' as const, durationMs: 1, log: 'l', slot: 's' };

test('a held result is a view of its own, never the best, and the search counts it with its reason', () => {
  const e1 = rec('e1', { verdict: held, mean: 0.5, runs: [printedRun], review: { model: 'openai:gpt-4o', verdict: 'flag', reason: 'reads the labels' } });
  const view = searchView([{ ...baseline, runs: [{ ...printedRun, value: 1 }] }, e1]);
  const [, v1] = experimentViews(view, []);
  assert.equal(v1!.status, 'suspect');
  assert.equal(v1!.reason, 'a gain 12× the largest kept so far');
  assert.equal(v1!.isBest, false);
  assert.equal(v1!.provenance, 'self-reported');
  assert.deepEqual(v1!.review, { model: 'openai:gpt-4o', verdict: 'flag', reason: 'reads the labels' });
  const s = searchInfo('/r', view, [], false);
  assert.deepEqual(s.held, [{ id: 'e1', reason: 'a gain 12× the largest kept so far' }]);
  assert.equal(s.provenance, 'self-reported');
  assert.equal(codeLensTitle(s), 'baseline 1 val_loss (self-reported), no improvement yet · 2 runs · 1 held for review');
});

test('a search with nothing held and values from its evaluator has no held or self-reported words', () => {
  const e1 = rec('e1', { verdict: kept, mean: 0.9, runs: [{ ...printedRun, source: 'evaluator' }] });
  const view = searchView([{ ...baseline, runs: [{ ...printedRun, source: 'evaluator' }] }, e1]);
  const s = searchInfo('/r', view, [], false);
  assert.ok(!('held' in s));
  assert.equal(s.provenance, 'evaluator');
  assert.equal(codeLensTitle({ ...s, baseline: 1, best: { id: 'e1', mean: 0.9 } }), 'best 0.9 val_loss, −0.1 vs baseline · 2 runs');
});

test('a held result is a warning on the line it changes, saying it awaits review', () => {
  const e2 = rec('e2', { verdict: held, patch: patch, review: { model: 'm', verdict: 'flag', reason: 'looks wrong' } });
  const [inExperiment] = heldInExperiment(e2, 'train.py');
  assert.equal(inExperiment!.severity, 'warning');
  assert.equal(inExperiment!.line, 2); // 0-based: "C", the first added line
  assert.equal(
    inExperiment!.message,
    'e2 is held for review: a gain 12× the largest kept so far (model review by m: flag — looks wrong). It is not kept until you accept it (Ratchet: Accept Suspect Result…) after reviewing the change.',
  );
  assert.equal(heldInBaseline(e2, 'train.py', patch)[0]!.line, 2);
  assert.deepEqual(heldInExperiment(rec('e3', { verdict: kept, patch }), 'train.py'), []);
});

test('a hover on a line an accepted result brought says so, and that its value is self-reported', () => {
  const e1 = rec('e1', { verdict: kept, mean: 0.5, runs: [printedRun], accepted: { at: '2026-01-01T10:00:00Z', by: 'editor', reason: 'the warm-up explains it' } });
  const text = hoverMarkdown(e1, baseline, 'val_loss');
  assert.match(text, /\(kept, accepted after review\)/);
  assert.match(text, /val_loss 0\.5 ± 0 over 1 run\(s\), −0\.5 vs e0 \(self-reported\)/);
  assert.match(text, /Held for review, then accepted by editor: the warm-up explains it/);
  assert.doesNotMatch(hoverMarkdown({ ...e1, runs: [{ ...printedRun, source: 'evaluator' }], accepted: undefined }, baseline, 'val_loss'), /self-reported|accepted/);
});
