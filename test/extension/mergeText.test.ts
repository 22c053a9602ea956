import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergedText, minimalEdits } from '../../src/extension/mergeText';

const baseline = 'a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\n';
const result = 'a = 1\nb = 20\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\n';
const patch = '--- a/x.py\n+++ b/x.py\n@@ -1,3 +1,3 @@\n a = 1\n-b = 2\n+b = 20\n c = 3\n';

function apply(text: string, edits: ReturnType<typeof minimalEdits>): string {
  let out = text;
  for (const e of [...edits].reverse()) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

test('an untouched file takes the experiment as it is', () => {
  assert.equal(mergedText(baseline, { baseline, result, patch }), result);
});

test("the user's unrelated unsaved edits are kept under the merge", () => {
  const edited = baseline.replace('g = 7', 'g = 70');
  assert.equal(mergedText(edited, { baseline, result, patch }), result.replace('g = 7', 'g = 70'));
});

test('an edit that overlaps the change is a conflict, not a forced merge', () => {
  const edited = baseline.replace('b = 2', 'b = 3');
  assert.equal(mergedText(edited, { baseline, result, patch }), undefined);
});

test('a file that already has the change is left as it is', () => {
  assert.equal(mergedText(result, { baseline, result, patch }), result);
});

test('minimal edits touch only the changed line and reproduce the merge', () => {
  const edits = minimalEdits(baseline, result);
  assert.equal(edits.length, 1);
  assert.equal(baseline.slice(edits[0]!.start, edits[0]!.end), 'b = 2\n');
  assert.equal(apply(baseline, edits), result);
});

test('minimal edits handle insertions and deletions', () => {
  const to = 'a = 1\nnew\nc = 3\nd = 4\nf = 6\ng = 7\n';
  assert.equal(apply(baseline, minimalEdits(baseline, to)), to);
});
