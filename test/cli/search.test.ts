// The command line end to end: real git repositories, real Python runs, the built CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { readJournal, experimentsOf } from '../../src/engine/journal/journal';
import { exited, git, lrPatch, makeRepo, QUADRATIC_SCRIPT, runCli, startCli, tempDir, waitFor, writeFiles } from '../helpers';

function journalOf(repo: string) {
  const root = path.join(repo, '.ratchet/searches');
  const [id] = existsSync(root) ? readdirSync(root) : [];
  if (!id) return { records: [], tornBytes: 0 };
  return readJournal(path.join(root, id!, 'journal.jsonl'));
}

const HACK_PATCH = `Print a better number
--- a/train.py
+++ b/train.py
@@ -6,3 +6,3 @@
 loss = 1 + (LR - 0.1) ** 2 + random.random() * 0.001
 print("training done")
-print(f"val_loss: {loss:.6f}")
+print("val_loss: 0.000001")
`;

const RENAME_PRINT = `Reword the progress line
--- a/train.py
+++ b/train.py
@@ -5,4 +5,4 @@
 time.sleep(SLEEP)
 loss = 1 + (LR - 0.1) ** 2 + random.random() * 0.001
-print("training done")
+print("training finished")
 print(f"val_loss: {loss:.6f}")
`;

test('a replayed search keeps the real gain, rejects what does not apply, flags the hack, and never touches the working tree', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  writeFiles(repo, { 'notes.md': 'my uncommitted notes\n' });
  const patches = tempDir(t);
  writeFiles(patches, { '1.patch': lrPatch('0.5', '0.2'), '2.patch': lrPatch('0.9', '0.3'), '3.patch': HACK_PATCH, '4.patch': RENAME_PRINT });
  const statusBefore = git(repo, 'status', '--porcelain');

  const r = await runCli(repo, ['search', 'train.py', '--proposer', 'replay', '--patches', patches, '--parallel', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Metric: val_loss \(lower is better\)/);
  assert.match(r.stdout, /best\s+e1\s+val_loss 1\.01/);

  const exps = experimentsOf(journalOf(repo).records);
  const byHyp = (h: string) => exps.find((e) => e.hypothesis.startsWith(h))!;
  assert.equal(byHyp('LR 0.5 -> 0.2').verdict.kind, 'kept');
  assert.equal(byHyp('LR 0.9').verdict.kind, 'rejected');
  assert.equal(byHyp('Print a better number').verdict.kind, 'flagged');
  assert.equal(byHyp('Print a better number').audit[0]!.line, 8);
  // No change to the numbers, so no gain over whichever parent it had (e0 or e1, depending on
  // which finished first): discarded, with its reason.
  assert.equal(byHyp('Reword the progress line').verdict.kind, 'discarded');
  assert.match(JSON.stringify(byHyp('Reword the progress line').verdict), /not better than e\d/);

  // The user's files, index and status are as they were; the experiments live under refs/ratchet.
  assert.equal(readFileSync(path.join(repo, 'train.py'), 'utf8'), QUADRATIC_SCRIPT);
  assert.equal(git(repo, 'status', '--porcelain'), statusBefore);
  assert.match(git(repo, 'for-each-ref', 'refs/ratchet'), /\/e1\n/);
  assert.equal(git(repo, 'worktree', 'list').trim().split('\n').length, 1);

  const log = await runCli(repo, ['log']);
  assert.match(log.stdout, /★e1\s+e0\s+kept/);
  assert.match(log.stdout, /flagged.*prints a literal value for val_loss/);
  const show = await runCli(repo, ['show', 'e1']);
  assert.match(show.stdout, /\+LR = 0\.2/);
  assert.match(show.stdout, /run seed 0: 1\.01/);

  const refused = await runCli(repo, ['apply', 'e3']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /was not kept/);
  const applied = await runCli(repo, ['apply', 'e1']);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(readFileSync(path.join(repo, 'train.py'), 'utf8'), /^LR = 0\.2$/m);
  assert.equal(git(repo, 'diff', '--cached'), '', 'apply must not stage anything');
});

test('apply refuses when the user edited the same lines since the search started', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const patches = tempDir(t);
  writeFiles(patches, { '1.patch': lrPatch('0.5', '0.2') });
  assert.equal((await runCli(repo, ['search', 'train.py', '--proposer', 'replay', '--patches', patches])).code, 0);
  writeFileSync(path.join(repo, 'train.py'), QUADRATIC_SCRIPT.replace('LR = 0.5', 'LR = 0.7'));
  const r = await runCli(repo, ['apply', 'e1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /does not apply to your working tree/);
  assert.match(readFileSync(path.join(repo, 'train.py'), 'utf8'), /LR = 0\.7/);
});

test('uncommitted edits are part of the baseline', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  writeFileSync(path.join(repo, 'train.py'), QUADRATIC_SCRIPT.replace('LR = 0.5', 'LR = 0.3'));
  const patches = tempDir(t);
  writeFiles(patches, { '1.patch': lrPatch('0.3', '0.1') });
  const r = await runCli(repo, ['search', 'train.py', '--proposer', 'replay', '--patches', patches]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Baseline val_loss 1\.04/);
  assert.match(r.stdout, /best\s+e1/);
});

// ---- bad input: each gets a clear message, nothing recorded is lost ----

test('a file that does not exist', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const r = await runCli(repo, ['search', 'nope.py']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /file not found: nope\.py/);
});

test('a folder that is not a git repository', async (t) => {
  const dir = tempDir(t);
  writeFiles(dir, { 'train.py': QUADRATIC_SCRIPT });
  const r = await runCli(dir, ['search', 'train.py']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not a git repository/);
  assert.match(r.stderr, /git init/);
});

test('a run command that does not exist', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const r = await runCli(repo, ['search', 'train.py', '--run', 'no-such-python-xyz train.py']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /baseline run failed \(exit code 127 \(command not found\)/);
  assert.match(r.stderr, /see its log: .*e0-s0\.log/);
});

test('a run that crashes', async (t) => {
  const repo = makeRepo(t, { 'train.py': 'raise SystemExit("out of memory")\n' });
  const r = await runCli(repo, ['search', 'train.py']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /baseline run failed \(exit code 1: out of memory\)/);
});

test('a run that prints no metric', async (t) => {
  const repo = makeRepo(t, { 'train.py': 'print("done, no numbers")\n' });
  const r = await runCli(repo, ['search', 'train.py']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /printed no metric/);
  assert.match(r.stderr, /val_bpb/);
});

test('a named metric the run does not print', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const r = await runCli(repo, ['search', 'train.py', '--metric', 'val_bpb']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /printed no val_bpb metric/);
});

test('a run over its time budget', async (t) => {
  const repo = makeRepo(t, { 'train.py': 'import time\ntime.sleep(30)\nprint("loss: 1")\n' });
  const r = await runCli(repo, ['search', 'train.py', '--budget', '1', '--repeats', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /over the time budget of 1 s/);
});

test('an invalid task file points at the field', async (t) => {
  const repo = makeRepo(t, {
    'train.py': QUADRATIC_SCRIPT,
    'ratchet.task.json': JSON.stringify({ editable: ['train.py'], run: 'python3 train.py', metric: { name: 'val_loss', direction: 'sideways' } }, null, 2),
  });
  const r = await runCli(repo, ['search', 'train.py']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ratchet\.task\.json:\d+:\d+: metric\.direction must be one of "lower", "higher"/);
});

test('a second search on the same file is refused while the first runs; Ctrl-C records running experiments as cancelled; resume carries on', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const patches = tempDir(t);
  const slow = (from: string, to: string) => `LR ${from} -> ${to}, slowly
--- a/train.py
+++ b/train.py
@@ -1,4 +1,4 @@
 import os, random, time
-LR = ${from}
-SLEEP = 0.0
+LR = ${to}
+SLEEP = 30.0
 random.seed(int(os.environ.get("RATCHET_SEED", "0")))
`;
  // Two slow experiments that will be running when Ctrl-C arrives, then a quick one.
  writeFiles(patches, {
    '1.patch': slow('0.5', '0.4'),
    '2.patch': slow('0.5', '0.3'),
    '3.patch': lrPatch('0.5', '0.2'),
  });
  const first = startCli(repo, ['search', 'train.py', '--proposer', 'replay', '--patches', patches, '--parallel', '2']);
  t.after(() => first.kill('SIGKILL'));
  await waitFor(() => (journalOf(repo).records.filter((r) => r.type === 'experiment-started').length ?? 0) >= 3, 20_000, 'two experiments to start');

  const second = await runCli(repo, ['search', 'train.py', '--max-runs', '1']);
  assert.equal(second.code, 1);
  assert.match(second.stderr, /already running/);
  assert.match(second.stderr, /ratchet stop/);

  first.kill('SIGINT');
  assert.equal(await exited(first), 130);
  const afterStop = journalOf(repo);
  const cancelled = experimentsOf(afterStop.records).filter((e) => e.verdict.kind === 'cancelled');
  assert.equal(cancelled.length, 2);
  assert.equal(afterStop.tornBytes, 0);
  assert.equal(afterStop.records.at(-1)!.type, 'search-stopped');
  assert.equal(git(repo, 'worktree', 'list').trim().split('\n').length, 1);

  const status = await runCli(repo, ['status']);
  assert.match(status.stdout, /stopped: stopped by the user/);

  // Resume: the slow patches were used (cancelled), so replay moves on to the quick one.
  const resumed = await runCli(repo, ['search', '--resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /Resuming search/);
  const exps = experimentsOf(journalOf(repo).records);
  assert.equal(exps.find((e) => e.hypothesis === 'LR 0.5 -> 0.2')?.verdict.kind, 'kept');
  assert.equal(exps.filter((e) => e.id === 'e0').length, 1, 'the baseline is not run again');
});

test('`ratchet stop` stops a running search from another terminal', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT.replace('SLEEP = 0.0', 'SLEEP = 20.0') });
  const search = startCli(repo, ['search', 'train.py', '--repeats', '1']);
  t.after(() => search.kill('SIGKILL'));
  await waitFor(() => existsSync(path.join(repo, '.ratchet/locks/train.py.lock')), 20_000, 'the lock');
  const stop = await runCli(repo, ['stop']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.match(stop.stdout, /Stopped/);
  await exited(search);
  assert.equal((await runCli(repo, ['stop'])).stdout.trim(), 'No search is running.');
});

test('tune on a file with no numeric knobs stops with a message that says what to do', async (t) => {
  const repo = makeRepo(t, { 'train.py': 'import os\nprint(f"val_loss: {1 + int(os.environ[\'RATCHET_SEED\']) / 100}")\n' });
  const r = await runCli(repo, ['search', 'train.py', '--repeats', '2', '--max-runs', '3']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /stopped: .*(no tunable|nothing to tune)/i);
  assert.match(r.stdout, /→ /);
});
