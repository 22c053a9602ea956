import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SearchInfo } from '../../src/server/protocol';
import type { ExperimentRecord } from '../../src/engine/types';
import { codeLensTitle, experimentForLine, fmtDelta, newLineToOld } from '../../src/server/views';

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
