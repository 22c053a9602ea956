import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPatch, PatchRejected } from '../../src/engine/patch/validate';
import { addedLines, auditPatch } from '../../src/engine/audit/checks';
import type { Task } from '../../src/engine/types';

const task = { editable: ['exp/train.py'], protected: ['exp/data/**', 'exp/prepare.py'] };

function patchFor(file: string, body = '-A = 1\n+A = 2\n'): string {
  return `--- a/${file}\n+++ b/${file}\n@@ -1,1 +1,1 @@\n${body}`;
}

test('a patch to an editable file passes', () => {
  assert.deepEqual(checkPatch(patchFor('exp/train.py'), task), ['exp/train.py']);
});

for (const [name, file, why] of [
  ['outside the repository', '../outside.py', /outside the repository/],
  ['an absolute path', '/etc/passwd', /absolute path/],
  ['inside .git', '.git/hooks/pre-commit', /inside \.git/],
  ['a nested .git', 'exp/.git/config', /inside \.git/],
  ['a protected file', 'exp/prepare.py', /protected file exp\/prepare\.py/],
  ['a protected glob', 'exp/data/val.txt', /protected file/],
  ['a file that is not editable', 'exp/other.py', /not an editable file/],
  ['a path that climbs out after a folder', 'exp/../../x.py', /outside the repository/],
] as const) {
  test(`a patch touching ${name} is rejected`, () => {
    assert.throws(() => checkPatch(patchFor(file), task), (e: Error) => e instanceof PatchRejected && why.test(e.message));
  });
}

test('creating files, deleting files, symlinks and mode changes are rejected', () => {
  assert.throws(() => checkPatch(`--- /dev/null\n+++ b/exp/train.py\n@@ -0,0 +1 @@\n+x\n`, task), /create or delete/);
  assert.throws(() => checkPatch(`diff --git a/exp/train.py b/exp/train.py\nnew file mode 120000\n--- a/exp/train.py\n+++ b/exp/train.py\n@@ -1 +1 @@\n-a\n+b\n`, task), /existing files/);
  assert.throws(() => checkPatch(`diff --git a/exp/train.py b/exp/train.py\nold mode 100644\nnew mode 100755\n`, task), /existing files/);
});

test('an empty or hunkless patch is rejected', () => {
  assert.throws(() => checkPatch('', task), /empty/);
  assert.throws(() => checkPatch('just some words\n', task), /no hunks/);
});

test('added lines carry their new line numbers', () => {
  const p = `--- a/t.py\n+++ b/t.py\n@@ -3,3 +3,4 @@\n a\n-b\n+c\n+d\n e\n`;
  assert.deepEqual(addedLines(p), [
    { file: 't.py', line: 4, text: 'c' },
    { file: 't.py', line: 5, text: 'd' },
  ]);
});

const fullTask: Task = {
  name: 't', repoRoot: '/r', editable: ['t.py'], run: 'python3 t.py', cwd: '', metric: { name: 'val_bpb', direction: 'lower' },
  budgetSeconds: 10, protected: [], repeats: 1,
};

test('printing a literal metric value is flagged as a hack on its line', () => {
  const p = `--- a/t.py\n+++ b/t.py\n@@ -10,2 +10,2 @@\n x = 1\n-print(f"val_bpb: {bpb:.4f}")\n+print("val_bpb: 0.8000")\n`;
  const findings = auditPatch(p, fullTask);
  assert.equal(findings.length, 1);
  assert.equal(findings[0]!.check, 'metric-literal');
  assert.equal(findings[0]!.severity, 'hack');
  assert.equal(findings[0]!.line, 11);
});

test('computing the metric honestly is not flagged', () => {
  const p = `--- a/t.py\n+++ b/t.py\n@@ -10,2 +10,2 @@\n x = 1\n-print(f"val_bpb: {bpb:.4f}")\n+print(f"val_bpb: {bpb:.6f}")\n`;
  assert.deepEqual(auditPatch(p, { ...fullTask, evaluate: 'prepare.py:evaluate_bpb' }), []);
});

test('replacing the clock is flagged', () => {
  const p = `--- a/t.py\n+++ b/t.py\n@@ -1,1 +1,2 @@\n import time\n+time.perf_counter = lambda: 0.0\n`;
  const findings = auditPatch(p, fullTask);
  assert.equal(findings[0]?.check, 'timer-tampering');
  assert.equal(findings[0]?.line, 2);
});
