// What a person sees in a terminal: the live progress line on a TTY (run under a real pseudo-
// terminal through util-linux's `script`), and plain lines elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CLI, lrPatch, makeRepo, QUADRATIC_SCRIPT, runCli, tempDir, writeFiles } from '../helpers';

function hasScript(): boolean {
  return spawnSync('script', ['--version']).status === 0;
}

test('on a TTY a status line is redrawn in place with done, running, queued, best and ETA', async (t) => {
  if (!hasScript()) {
    t.skip('util-linux `script` is not installed');
    return;
  }
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const patches = tempDir(t);
  writeFiles(patches, { '1.patch': lrPatch('0.5', '0.2') });
  const typescript = path.join(tempDir(t), 'typescript');
  // Slow enough runs that the status line is redrawn a few times.
  const command = `${process.execPath} ${CLI} search train.py --proposer replay --patches ${patches} --repeats 2 --max-runs 1 --run 'sleep 0.7; python3 train.py'`;
  // The search ends by offering to save its inferred task; the answer goes through the terminal.
  execFileSync('script', ['-qfec', command, typescript], { cwd: repo, input: 'n\n', stdio: ['pipe', 'ignore', 'ignore'], timeout: 60_000, env: { ...process.env, COLUMNS: '200' } });
  const screen = readFileSync(typescript, 'utf8');
  assert.match(screen, /Save this task as ratchet\.task\.json beside train\.py\? \[y\/N\]/);
  assert.equal(existsSync(path.join(repo, 'ratchet.task.json')), false, 'answered no');
  assert.match(screen, /\r\x1b\[2K\[\d+s\] \d+ done · \d+ running · \d+ queued · best /);
  // The quadratic script prints its metric itself: self-reported.
  assert.match(screen, /best \d+\.\d+ \(e0, self-reported\) · ETA \d+s/);
  assert.match(screen, /★ e1/);
});

test('off a TTY only plain lines are printed', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const patches = tempDir(t);
  writeFiles(patches, { '1.patch': lrPatch('0.5', '0.2') });
  const r = await runCli(repo, ['search', 'train.py', '--proposer', 'replay', '--patches', patches, '--repeats', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /\x1b\[/);
  assert.doesNotMatch(r.stdout, /\r/);
});

test('--save-task keeps an inferred task as a task file that the next search finds', async (t) => {
  const repo = makeRepo(t, { 'exp/train.py': QUADRATIC_SCRIPT });
  const patches = tempDir(t);
  writeFiles(patches, { '1.patch': lrPatch('0.5', '0.2').replace(/train\.py/g, 'exp/train.py') });
  const r = await runCli(repo, ['search', 'exp/train.py', '--proposer', 'replay', '--patches', patches, '--repeats', '2', '--save-task']);
  assert.equal(r.code, 0, r.stderr);
  const saved = JSON.parse(readFileSync(path.join(repo, 'exp/ratchet.task.json'), 'utf8'));
  assert.deepEqual(saved.editable, ['train.py']);
  assert.deepEqual(saved.metric, { name: 'val_loss', direction: 'lower' });
  const again = await runCli(repo, ['search', 'exp/train.py', '--proposer', 'replay', '--patches', patches, '--repeats', '2']);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /task inferred/);
});
