import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseTaskFile } from '../../src/engine/task/schema';
import { findTaskFileFor, guessDirection, inferTask, loadTaskFile, saveTask } from '../../src/engine/task/load';
import { RatchetError } from '../../src/engine/errors';
import { makeRepo } from '../helpers';

const valid = {
  editable: ['train.py'],
  run: 'python3 train.py',
  metric: { name: 'val_bpb', direction: 'lower' },
};

test('a valid task file parses', () => {
  const t = parseTaskFile(JSON.stringify(valid), 'ratchet.task.json');
  assert.equal(t.metric.name, 'val_bpb');
});

test('an invalid field is reported with its line, column and the allowed values', () => {
  const text = `{
  "editable": ["train.py"],
  "run": "python3 train.py",
  "metric": { "name": "val_bpb", "direction": "down" }
}`;
  assert.throws(
    () => parseTaskFile(text, 'ratchet.task.json'),
    (e: RatchetError) => {
      assert.match(e.message, /ratchet\.task\.json:4:47: metric\.direction must be one of "lower", "higher"/);
      return true;
    },
  );
});

test('a missing required field and an unknown field are both reported', () => {
  const text = JSON.stringify({ editable: ['a.py'], metric: { name: 'x', direction: 'lower' }, budget: 5 }, null, 2);
  assert.throws(
    () => parseTaskFile(text, 't.json'),
    (e: RatchetError) => {
      assert.match(e.message, /2 problems/);
      assert.match(e.message, /run is required/);
      assert.match(e.message, /t\.json:\d+:\d+: budget is not a known field/);
      return true;
    },
  );
});

test('broken JSON is reported with its position', () => {
  assert.throws(() => parseTaskFile('{ "run": "x", }', 'task.json'), /task\.json:1:\d+: /);
});

test('task paths are relative to the task file and become repo-relative', (t) => {
  const repo = makeRepo(t, {
    'exp/train.py': 'print("val_bpb: 1")\n',
    'exp/ratchet.task.json': JSON.stringify({ ...valid, protected: ['data/**'], repeats: 2 }),
  });
  const task = loadTaskFile(path.join(repo, 'exp/ratchet.task.json'), repo);
  assert.deepEqual(task.editable, ['exp/train.py']);
  assert.equal(task.cwd, 'exp');
  assert.deepEqual(task.protected, ['exp/data/**']);
  assert.equal(task.repeats, 2);
  assert.equal(findTaskFileFor(path.join(repo, 'exp/train.py'), repo), path.join(repo, 'exp/ratchet.task.json'));
  assert.equal(findTaskFileFor(path.join(repo, 'other.py'), repo), undefined);
});

test('a task file naming a missing editable file says which', (t) => {
  const repo = makeRepo(t, { 'ratchet.task.json': JSON.stringify({ ...valid, editable: ['nope.py'] }) });
  assert.throws(() => loadTaskFile(path.join(repo, 'ratchet.task.json'), repo), /editable file nope\.py does not exist/);
});

test('an inferred task runs the file with python from its folder and can be saved as a valid task file', (t) => {
  const repo = makeRepo(t, { 'src/my train.py': 'print("loss: 1")\n' });
  const task = inferTask(path.join(repo, 'src/my train.py'), repo, {}, 'python3');
  assert.equal(task.run, "python3 'my train.py'");
  assert.equal(task.cwd, 'src');
  assert.equal(task.metric.name, '');
  const saved = saveTask({ ...task, metric: { name: 'loss', direction: 'lower' } });
  const reloaded = loadTaskFile(saved, repo);
  assert.deepEqual(reloaded.editable, ['src/my train.py']);
  assert.equal(reloaded.cwd, 'src');
  assert.equal(JSON.parse(readFileSync(saved, 'utf8')).metric.name, 'loss');
  assert.throws(() => saveTask(task), /already exists/);
});

test('metric direction is guessed from the name', () => {
  assert.equal(guessDirection('val_bpb'), 'lower');
  assert.equal(guessDirection('val_acc'), 'higher');
  assert.equal(guessDirection('tflops'), 'higher');
  assert.equal(guessDirection('time_to_loss'), 'lower');
});

// ---- kernel tasks ----

const KERNEL_FILES = {
  'kernels/row_sum/task.json': JSON.stringify({ name: 'row_sum', reference: 'reference.py', baseline: 'baseline_fused.py', shapes: [] }),
  'kernels/row_sum/reference.py': 'class Model: pass\n',
  'kernels/row_sum/baseline_fused.py': 'class ModelNew: pass\n',
  'kernels/row_sum/naive.py': 'class ModelNew: pass\n',
  'kernels/row_sum/triton_rows.py': 'class ModelNew: pass\n',
  'problems/softmax/definition.json': '{}',
  'problems/softmax/workload.jsonl': '{}\n',
  'problems/softmax/roofline.json': '{}',
  'problems/softmax/solution.json': '{}',
};

test('a kernel task file: "kernel" instead of "run", paths relative to the file', (t) => {
  const repo = makeRepo(t, {
    ...KERNEL_FILES,
    'kernels/row_sum/ratchet.task.json': JSON.stringify({
      editable: ['naive.py'],
      kernel: { task: '.', candidate: 'naive.py', device: 'cpu' },
      metric: { name: 'speedup', direction: 'higher' },
      protected: ['reference.py', 'task.json'],
    }),
  });
  const task = loadTaskFile(path.join(repo, 'kernels/row_sum/ratchet.task.json'), repo);
  assert.deepEqual(task.kernel, { task: 'kernels/row_sum', candidate: 'kernels/row_sum/naive.py', device: 'cpu' });
  assert.equal(task.run, undefined);
  assert.equal(findTaskFileFor(path.join(repo, 'kernels/row_sum/naive.py'), repo), path.join(repo, 'kernels/row_sum/ratchet.task.json'));
});

test('"run" is required unless "kernel" is given, and a kernel task has no "run"', () => {
  const metric = { name: 'sol_score', direction: 'higher' };
  assert.throws(() => parseTaskFile(JSON.stringify({ editable: ['a.py'], metric }), 't.json'), /run is required \(or "kernel", for a kernel task\)/);
  assert.throws(
    () => parseTaskFile(JSON.stringify({ editable: ['a.py'], metric, run: 'python3 a.py', kernel: { task: '.', candidate: 'a.py' } }), 't.json'),
    /t\.json:1:\d+: run is not used by a kernel task.*remove it/,
  );
  assert.throws(() => parseTaskFile(JSON.stringify({ editable: ['a.py'], metric, kernel: { task: '.' } }), 't.json'), /kernel\.candidate is required/);
  assert.throws(() => parseTaskFile(JSON.stringify({ editable: ['a.py'], metric, kernel: { task: '.', candidate: 'a.py', device: 'tpu' } }), 't.json'), /kernel\.device must be one of "cuda", "cpu"/);
  assert.ok(parseTaskFile(JSON.stringify({ editable: ['a.py'], metric, kernel: { problem: '.', candidate: 'a.py' } }), 't.json').kernel);
});

test('a kernel task file needs exactly one of task and problem, and folders that hold them', (t) => {
  const write = (kernel: object) =>
    makeRepo(t, { ...KERNEL_FILES, 'ratchet.task.json': JSON.stringify({ editable: ['kernels/row_sum/naive.py'], kernel, metric: { name: 'sol_score', direction: 'higher' } }) });
  const load = (repo: string) => loadTaskFile(path.join(repo, 'ratchet.task.json'), repo);
  assert.throws(() => load(write({ task: 'kernels/row_sum', problem: 'problems/softmax', candidate: 'kernels/row_sum/naive.py' })), /exactly one of "task" and "problem"/);
  assert.throws(() => load(write({ task: 'problems/softmax', candidate: 'kernels/row_sum/naive.py' })), /folder problems\/softmax has no task\.json/);
  assert.throws(() => load(write({ task: 'kernels/row_sum', candidate: 'kernels/row_sum/fast.py' })), /candidate kernels\/row_sum\/fast\.py does not exist/);
});

test('a candidate beside task.json + reference.py is inferred as a kernel task', (t) => {
  const repo = makeRepo(t, KERNEL_FILES);
  const task = inferTask(path.join(repo, 'kernels/row_sum/naive.py'), repo, {}, 'python3');
  assert.deepEqual(task.kernel, { task: 'kernels/row_sum', candidate: 'kernels/row_sum/naive.py' });
  assert.equal(task.run, undefined);
  assert.deepEqual(task.editable, ['kernels/row_sum/naive.py']);
  // The task's own files are protected (the baseline named in task.json too); other candidates and the searched one are not.
  assert.deepEqual(task.protected, ['kernels/row_sum/baseline_fused.py', 'kernels/row_sum/reference.py', 'kernels/row_sum/task.json']);
  assert.equal(task.budgetSeconds, 600);
  assert.equal(task.repeats, 2);
  // No device: the harness picks it, and the baseline decides between sol_score and speedup.
  assert.deepEqual(task.metric, { name: '', direction: 'higher' });
  assert.deepEqual(inferTask(path.join(repo, 'kernels/row_sum/naive.py'), repo, { device: 'cuda' }, 'python3').metric, { name: 'sol_score', direction: 'higher' });
  const cpu = inferTask(path.join(repo, 'kernels/row_sum/naive.py'), repo, { device: 'cpu', repeats: 3 }, 'python3');
  assert.deepEqual(cpu.metric, { name: 'speedup', direction: 'higher' });
  assert.equal(cpu.kernel!.device, 'cpu');
  assert.equal(cpu.repeats, 3);
  // --run means a command after all.
  assert.equal(inferTask(path.join(repo, 'kernels/row_sum/naive.py'), repo, { run: 'python3 bench.py' }, 'python3').kernel, undefined);

  const saved = saveTask({ ...cpu, metric: { name: 'speedup', direction: 'higher' } });
  const reloaded = loadTaskFile(saved, repo);
  assert.deepEqual(reloaded.kernel, cpu.kernel);
  assert.deepEqual(reloaded.protected, cpu.protected);
  assert.equal(JSON.parse(readFileSync(saved, 'utf8')).run, undefined);
});

test('a SOL-ExecBench problem folder makes the file the candidate; --device elsewhere is refused', (t) => {
  const repo = makeRepo(t, { ...KERNEL_FILES, 'train.py': 'print("loss: 1")\n' });
  const task = inferTask(path.join(repo, 'problems/softmax/solution.json'), repo, { device: 'cuda' }, 'python3');
  assert.deepEqual(task.kernel, { problem: 'problems/softmax', candidate: 'problems/softmax/solution.json', device: 'cuda' });
  assert.deepEqual(task.protected, ['problems/softmax/definition.json', 'problems/softmax/roofline.json', 'problems/softmax/workload.jsonl']);
  assert.throws(() => inferTask(path.join(repo, 'train.py'), repo, { device: 'cpu' }, 'python3'), /--device is for kernel tasks/);
});
