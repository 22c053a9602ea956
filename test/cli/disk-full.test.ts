// A full disk under the journal, for real: a tiny tmpfs mounted over the search folders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { experimentsOf, readJournal } from '../../src/engine/journal/journal';
import { git, lrPatch, makeRepo, QUADRATIC_SCRIPT, runCli, tempDir, writeFiles } from '../helpers';

function tryMount(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// 1.5 MB of output: the run's log fills the 1 MB disk before the journal gets to record it. The
// patch carries a long comment so that its record needs new pages (tmpfs hands out whole pages,
// and a short record could still fit in the last one's slack).
const FLOOD_PATCH = `Lower LR and talk a lot
--- a/train.py
+++ b/train.py
@@ -5,4 +5,6 @@
 time.sleep(SLEEP)
 loss = 1 + (LR - 0.1) ** 2 + random.random() * 0.001
+# ${'padding '.repeat(2000)}
+print("x" * 1_500_000)
 print("training done")
 print(f"val_loss: {loss:.6f}")
`;

test('a full disk stops the search with a clear message, keeps every earlier record, and resume carries on once there is room', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const searches = path.join(repo, '.ratchet', 'searches');
  mkdirSync(searches, { recursive: true });
  if (!tryMount(searches, '1m')) {
    if (process.env.CI) assert.fail('CI runs as root and must be able to mount a tmpfs for this test');
    t.skip('mounting a tmpfs needs root');
    return;
  }
  try {
    await fillTheDiskThenResume(t, repo, searches);
  } finally {
    // Before the temporary folder is removed (after-hooks run in order, and it was made first).
    execFileSync('umount', ['-l', searches]);
  }
});

async function fillTheDiskThenResume(t: import('node:test').TestContext, repo: string, searches: string): Promise<void> {
  const patches = tempDir(t);
  writeFiles(patches, { '1.patch': lrPatch('0.5', '0.3'), '2.patch': FLOOD_PATCH, '3.patch': lrPatch('0.5', '0.2') });

  const r = await runCli(repo, ['search', 'train.py', '--proposer', 'replay', '--patches', patches]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /disk full while writing the journal/);
  assert.match(r.stderr, /every experiment recorded before is intact/);
  assert.match(r.stderr, /ratchet search --resume/);

  const [id] = readdirSync(searches);
  const journal = path.join(searches, id!, 'journal.jsonl');
  const before = experimentsOf(readJournal(journal).records);
  assert.deepEqual(before.map((e) => [e.id, e.verdict.kind]), [['e0', 'baseline'], ['e1', 'kept']]);
  assert.equal(readJournal(journal).tornBytes, 0);
  assert.equal(git(repo, 'status', '--porcelain'), '', 'the working tree is untouched');

  // Make room (a bigger disk) and resume: the interrupted experiment is closed with a verdict of
  // its own, and its patch, which never got one, is tried again.
  execFileSync('mount', ['-o', 'remount,size=8m', searches]);
  const resumed = await runCli(repo, ['search', '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  const after = experimentsOf(readJournal(journal).records);
  assert.deepEqual(after.slice(0, 2), before);
  assert.equal(after.find((e) => e.id === 'e2')?.verdict.kind, 'cancelled');
  assert.equal(after.find((e) => e.id === 'e3')?.hypothesis, 'Lower LR and talk a lot');
  assert.equal(after.find((e) => e.id === 'e3')?.verdict.kind, 'discarded');
  assert.equal(after.find((e) => e.hypothesis === 'LR 0.5 -> 0.2')?.verdict.kind, 'rejected'); // e1 changed LR already
}
