import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { findRepoRoot, readFileAt, snapshotWorkingTree } from '../../src/engine/git/repo';
import { commitPatch } from '../../src/engine/git/commit';
import { RatchetError } from '../../src/engine/errors';
import { git, makeRepo, tempDir } from '../helpers';

test('a folder that is not a git repository gets an error that says how to make one', async (t) => {
  await assert.rejects(findRepoRoot(tempDir(t)), (e: RatchetError) => e.code === 'NOT_A_REPO' && /git init/.test(e.hint ?? ''));
});

test('the snapshot holds uncommitted and untracked changes and leaves the index and tree alone', async (t) => {
  const repo = makeRepo(t, { 'train.py': 'LR = 1\n', '.gitignore': 'ignored.txt\n', 'staged.py': 'a\n' });
  writeFileSync(path.join(repo, 'train.py'), 'LR = 2\n'); // unstaged edit
  writeFileSync(path.join(repo, 'staged.py'), 'b\n');
  git(repo, 'add', 'staged.py'); // staged edit
  writeFileSync(path.join(repo, 'new.py'), 'new\n'); // untracked
  writeFileSync(path.join(repo, 'ignored.txt'), 'secret\n'); // ignored
  const statusBefore = git(repo, 'status', '--porcelain');
  const indexBefore = readFileSync(path.join(repo, '.git/index'));

  const snap = await snapshotWorkingTree(repo, 'snapshot');
  assert.equal(await readFileAt(repo, snap, 'train.py'), 'LR = 2\n');
  assert.equal(await readFileAt(repo, snap, 'staged.py'), 'b\n');
  assert.equal(await readFileAt(repo, snap, 'new.py'), 'new\n');
  await assert.rejects(readFileAt(repo, snap, 'ignored.txt'));
  assert.equal(git(repo, 'rev-parse', `${snap}^`).trim(), git(repo, 'rev-parse', 'HEAD').trim());

  assert.equal(git(repo, 'status', '--porcelain'), statusBefore);
  assert.deepEqual(readFileSync(path.join(repo, '.git/index')), indexBefore);
});

test('a repository with no commits yet can still be snapshotted', async (t) => {
  const repo = makeRepo(t, { 'train.py': 'x\n' }, { commit: false });
  const snap = await snapshotWorkingTree(repo, 'snapshot');
  assert.equal(await readFileAt(repo, snap, 'train.py'), 'x\n');
});

test('an experiment commit is its parent plus the patch; a stale patch is refused', async (t) => {
  const repo = makeRepo(t, { 'train.py': 'A = 1\nB = 2\n' });
  const head = git(repo, 'rev-parse', 'HEAD').trim();
  const patch = '--- a/train.py\n+++ b/train.py\n@@ -1,2 +1,2 @@\n-A = 1\n+A = 3\n B = 2\n';
  const c = await commitPatch(repo, head, patch, 'e1');
  assert.equal(await readFileAt(repo, c, 'train.py'), 'A = 3\nB = 2\n');
  assert.equal(git(repo, 'rev-parse', `${c}^`).trim(), head);
  await assert.rejects(commitPatch(repo, c, patch, 'again'), /patch failed|does not apply/);
  assert.equal(git(repo, 'status', '--porcelain'), '');
});
