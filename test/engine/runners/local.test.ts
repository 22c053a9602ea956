import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { LocalRunner } from '../../../src/engine/runners/local';
import { TailBuffer } from '../../../src/engine/runners/tail';
import type { RunRequest } from '../../../src/engine/types';
import { git, makeRepo, tempDir } from '../../helpers';

function setup(t: import('node:test').TestContext, files: Record<string, string> = { 'x.txt': 'x' }, opts: Partial<ConstructorParameters<typeof LocalRunner>[0]> = {}) {
  const repo = makeRepo(t, files);
  const commit = git(repo, 'rev-parse', 'HEAD').trim();
  const logs = tempDir(t);
  const runner = new LocalRunner({ parallel: 2, worktreeRoot: path.join(repo, '.ratchet', 'wt'), killGraceMs: 300, ...opts });
  const request = (command: string, extra: Partial<RunRequest> = {}): RunRequest => ({
    experimentId: 'e1',
    seed: 0,
    repoRoot: repo,
    commit,
    baseCommit: commit,
    cwd: '',
    command,
    env: {},
    timeoutMs: 10_000,
    protected: [],
    logPath: path.join(logs, `run-${Math.random()}.log`),
    slot: runner.slots()[0]!,
    signal: new AbortController().signal,
    ...extra,
  });
  return { repo, runner, request };
}

test('a run executes in a fresh worktree of the commit and its output is logged', async (t) => {
  const { runner, request, repo } = setup(t);
  const req = request('cat x.txt; echo; echo "seed=$RATCHET_SEED"', { seed: 7 });
  const r = await runner.run(req);
  assert.equal(r.exitCode, 0);
  assert.match(r.outputTail, /^x\nseed=7/);
  assert.match(readFileSync(req.logPath, 'utf8'), /seed=7/);
  // The worktree is gone afterwards, and git no longer lists it.
  assert.doesNotMatch(git(repo, 'worktree', 'list'), /\.ratchet/);
});

test('a timeout kills the whole process group, grandchildren included', async (t) => {
  const { runner, request } = setup(t);
  const marker = path.join(tempDir(t), 'grandchild-alive');
  const started = Date.now();
  const r = await runner.run(request(`(sleep 3; touch ${marker}) & sleep 30`, { timeoutMs: 500 }));
  assert.equal(r.timedOut, true);
  assert.ok(Date.now() - started < 5000);
  await new Promise((res) => setTimeout(res, 3500));
  assert.equal(existsSync(marker), false, 'the background grandchild outlived the timeout');
});

test('a process that ignores SIGTERM is killed after the grace period', async (t) => {
  const { runner, request } = setup(t);
  const r = await runner.run(request(`trap '' TERM; sleep 20`, { timeoutMs: 300 }));
  assert.equal(r.timedOut, true);
  assert.equal(r.signal, 'SIGKILL');
});

test('cancel kills the run and says so', async (t) => {
  const { runner, request } = setup(t);
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 200);
  const r = await runner.run(request('sleep 20', { signal: ac.signal }));
  assert.equal(r.cancelled, true);
});

test('a flood of output is capped in the log and the memory, and the metric after it is still read', async (t) => {
  const { runner, request } = setup(t, { 'x.txt': 'x' }, { logCapBytes: 100_000, tailBytes: 4096 });
  const req = request(`head -c 30000000 /dev/zero | tr '\\0' 'a'; echo; echo "val_loss: 1.5"`);
  const r = await runner.run(req);
  assert.equal(r.exitCode, 0);
  assert.ok(statSync(req.logPath).size < 100_500);
  assert.ok(r.droppedBytes > 10_000_000, `dropped ${r.droppedBytes}`);
  assert.ok(r.outputTail.length <= 4096);
  assert.equal(r.metrics?.val_loss, 1.5);
  assert.match(readFileSync(req.logPath, 'utf8'), /bytes were not logged/);
});

test('non-UTF-8 output is decoded with replacement characters', async (t) => {
  const { runner, request } = setup(t);
  const r = await runner.run(request(`printf 'caf\\351\\n\\377\\376val: 2\\n'`));
  assert.match(r.outputTail, /caf\uFFFD/);
});

test('each slot gets its own GPU through CUDA_VISIBLE_DEVICES', async (t) => {
  const { runner, request } = setup(t, { 'x.txt': 'x' }, { gpus: ['2', '5'] });
  const slots = runner.slots();
  assert.deepEqual(slots.map((s) => s.env.CUDA_VISIBLE_DEVICES), ['2', '5']);
  const r = await runner.run(request('echo "gpu=$CUDA_VISIBLE_DEVICES"', { slot: slots[1]! }));
  assert.match(r.outputTail, /gpu=5/);
});

test('a run that changes a protected file is reported', async (t) => {
  const { runner, request } = setup(t, { 'data/val.txt': 'held out', 'train.py': '' });
  const r = await runner.run(request('echo leaked > data/val.txt', { protected: ['data/**'] }));
  assert.equal(r.audit.length, 1);
  assert.equal(r.audit[0]!.check, 'protected-file-changed');
  assert.equal(r.audit[0]!.file, 'data/val.txt');
});

test('the tail buffer keeps only the last bytes and drops a cut first line', () => {
  const tail = new TailBuffer(10);
  tail.push(Buffer.from('line one\nline two\n'));
  tail.push(Buffer.from('end\n'));
  assert.equal(tail.text(), 'end\n');
});
